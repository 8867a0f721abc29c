import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * What went wrong, as the broker's own (`/v2`) error code of `{error:{code,message,requestId}}`;
 * upstream-compatible routes answer the same kinds with upstream's codes (`UPSTREAM_CODES`).
 * Both tables are documented in docs/api.md.
 */
export type ApiErrorCode =
  | 'bad_request'
  | 'validation_failed'
  | 'invalid_page'
  | 'invalid_cursor'
  | 'unauthorized'
  | 'forbidden'
  | 'namespace_forbidden'
  | 'purge_all_disabled'
  | 'not_found'
  | 'conflict'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'uri_too_long'
  | 'headers_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'too_many_watches'
  | 'request_timeout'
  | 'unavailable'
  | 'internal';

/** Upstream ark-broker's codes, and the broker's own kinds upstream never answers in upstream's casing. */
export type UpstreamErrorCode =
  | 'VALIDATION_ERROR'
  | 'PAGINATION_ERROR'
  | 'BAD_REQUEST'
  | 'REQUEST_ERROR'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INTERNAL_ERROR'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NAMESPACE_FORBIDDEN'
  | 'PURGE_ALL_DISABLED'
  | 'RATE_LIMITED'
  | 'TOO_MANY_WATCHES'
  | 'REQUEST_TIMEOUT'
  | 'UNAVAILABLE';

/** The wire code of each kind on the native routes: its own name, but a bad page size is a validation failure there. */
export const NATIVE_CODES: Record<ApiErrorCode, ApiErrorCode> = {
  bad_request: 'bad_request',
  validation_failed: 'validation_failed',
  invalid_page: 'validation_failed',
  invalid_cursor: 'invalid_cursor',
  unauthorized: 'unauthorized',
  forbidden: 'forbidden',
  namespace_forbidden: 'namespace_forbidden',
  purge_all_disabled: 'purge_all_disabled',
  not_found: 'not_found',
  conflict: 'conflict',
  method_not_allowed: 'method_not_allowed',
  payload_too_large: 'payload_too_large',
  uri_too_long: 'uri_too_long',
  headers_too_large: 'headers_too_large',
  unsupported_media_type: 'unsupported_media_type',
  rate_limited: 'rate_limited',
  too_many_watches: 'too_many_watches',
  request_timeout: 'request_timeout',
  unavailable: 'unavailable',
  internal: 'internal',
};

/**
 * The wire code of each kind on upstream's routes (upstream 0.1.69 `routes/errors.ts` and
 * `middleware/error-handler.ts`): zod failures `VALIDATION_ERROR`, `parsePaginationParams`
 * `PAGINATION_ERROR`, body-parser failures (bad JSON, too large, bad encoding or type)
 * `REQUEST_ERROR`, `NOT_FOUND`, `INTERNAL_ERROR`. Upstream has no authentication, rate limit,
 * watch limit, write queue or body deadline: those keep the broker's own names, upper-cased.
 */
export const UPSTREAM_CODES: Record<ApiErrorCode, UpstreamErrorCode> = {
  bad_request: 'REQUEST_ERROR',
  validation_failed: 'VALIDATION_ERROR',
  invalid_page: 'PAGINATION_ERROR',
  invalid_cursor: 'PAGINATION_ERROR',
  unauthorized: 'UNAUTHORIZED',
  forbidden: 'FORBIDDEN',
  namespace_forbidden: 'NAMESPACE_FORBIDDEN',
  purge_all_disabled: 'PURGE_ALL_DISABLED',
  not_found: 'NOT_FOUND',
  conflict: 'CONFLICT',
  method_not_allowed: 'REQUEST_ERROR',
  payload_too_large: 'REQUEST_ERROR',
  uri_too_long: 'REQUEST_ERROR',
  headers_too_large: 'REQUEST_ERROR',
  unsupported_media_type: 'REQUEST_ERROR',
  rate_limited: 'RATE_LIMITED',
  too_many_watches: 'TOO_MANY_WATCHES',
  request_timeout: 'REQUEST_TIMEOUT',
  unavailable: 'UNAVAILABLE',
  internal: 'INTERNAL_ERROR',
};

export interface ApiErrorBody {
  error: { code: ApiErrorCode | UpstreamErrorCode; message: string; requestId: string };
}

/** Which table names the codes of a request's error answers. */
export type ErrorCodes = 'native' | 'upstream';

/**
 * The native API lives under `/v2`; every other path is upstream ark-broker's wire API (its routes,
 * and its catch-all 404). Decided by path because authentication, rate limits, body limits and
 * unknown routes are answered before (or without) a controller.
 */
export function errorCodesFor(url: string): ErrorCodes {
  return /^\/v2(?:[/?#]|$)/.test(url) ? 'native' : 'upstream';
}

export const DEFAULT_CODES: Record<number, ApiErrorCode> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  408: 'request_timeout',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  431: 'headers_too_large',
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
