export { ApiError, type ApiErrorBody, type ApiErrorCode } from './api-error.js';
export { ApiExceptionFilter, toErrorAnswer } from './api-exception.filter.js';
export { requestIdFor } from './request-id.js';
export { apiValidationPipe, compatValidationPipe, validateDto } from './validation.js';
export { toQueryBoolean } from './query-params.js';
