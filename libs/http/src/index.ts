export { ApiError, errorCodesFor, type ApiErrorBody, type ApiErrorCode, type ErrorCodes, type UpstreamErrorCode } from './api-error.js';
export { ApiExceptionFilter, toErrorAnswer, type ErrorContext } from './api-exception.filter.js';
export { requestIdFor } from './request-id.js';
export { apiValidationPipe, compatValidationPipe, validateDto } from './validation.js';
export { toQueryBoolean } from './query-params.js';
export { jsonNestsDeeperThan, MAX_JSON_DEPTH } from './json-depth.js';
