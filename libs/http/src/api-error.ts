import { HttpException, HttpStatus } from '@nestjs/common';

/** Machine-readable error codes of `{error:{code,message,requestId}}`; documented in docs/api.md. */
export type ApiErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'invalid_cursor'
  | 'unauthorized'
  | 'forbidden'
  | 'namespace_forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'too_many_watches'
  | 'request_timeout'
  | 'unavailable'
  | 'internal';

export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; requestId: string };
}

export const DEFAULT_CODES: Record<number, ApiErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'unavailable',
};

/**
 * An error answered at the HTTP edge itself (validation pipes, body parsers, hooks), with its code.
 * Services throw libs/errors' domain errors instead; anything else becomes 500 `internal`.
 */
export class ApiError extends HttpException {
  constructor(
    status: HttpStatus,
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message, status);
  }

  static badRequest(message: string, code: ApiErrorCode = 'bad_request'): ApiError {
    return new ApiError(HttpStatus.BAD_REQUEST, code, message);
  }
}
