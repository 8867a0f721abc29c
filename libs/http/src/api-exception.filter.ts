import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  ConflictError,
  DomainError,
  ForbiddenError,
  InvalidArgumentError,
  InvalidCursorError,
  InvalidPageError,
  MalformedInputError,
  NamespaceForbiddenError,
  NotFoundError,
  TooManyWatchesError,
  UnavailableError,
  WriteShareExceededError,
} from '#ark/errors';
import { ApiError, DEFAULT_CODES, NATIVE_CODES, UPSTREAM_CODES, errorCodesFor, type ApiErrorBody, type ApiErrorCode, type ErrorCodes } from './api-error.js';

export interface ErrorAnswer {
  status: number;
  body: ApiErrorBody;
  headers: Record<string, string>;
}

/** The answer to each kind of domain error: the one place they meet HTTP (native and upstream routes alike). */
const DOMAIN_ANSWERS: readonly [abstract new (...args: never[]) => DomainError, number, ApiErrorCode][] = [
  [NotFoundError, 404, 'not_found'],
  [ConflictError, 409, 'conflict'],
  [InvalidArgumentError, 400, 'validation_failed'],
  [InvalidPageError, 400, 'invalid_page'],
  [InvalidCursorError, 400, 'invalid_cursor'],
  [MalformedInputError, 400, 'bad_request'],
  [NamespaceForbiddenError, 403, 'namespace_forbidden'],
  [ForbiddenError, 403, 'forbidden'],
  [TooManyWatchesError, 429, 'too_many_watches'],
  [WriteShareExceededError, 429, 'rate_limited'],
  [UnavailableError, 503, 'unavailable'],
];

interface Failure {
  status: number;
  kind: ApiErrorCode;
  message: string;
  headers?: Record<string, string>;
}

function domainFailure(error: DomainError): Failure | undefined {
  const match = DOMAIN_ANSWERS.find(([kind]) => error instanceof kind);
  if (!match) return undefined;
  const headers: Record<string, string> =
    error instanceof TooManyWatchesError || error instanceof WriteShareExceededError || error instanceof UnavailableError
      ? { 'Retry-After': String(error.retryAfterSeconds) }
      : {};
  return { status: match[1], kind: match[2], message: error.message, headers };
}

/** The request an error answers: its id (echoed in the body) and its URL (which code table: `errorCodesFor`). */
export interface ErrorContext {
  id: unknown;
  url: string;
}

/**
 * Turns any thrown value into the API's error envelope, with the native codes under `/v2` and
 * upstream's everywhere else. Stack traces go to the log, never the body.
 */
export function toErrorAnswer(error: unknown, request: ErrorContext, logger?: Logger): ErrorAnswer {
  const requestId = String(request.id);
  const { status, kind, message, headers = {} } = failureOf(error, requestId, logger);
  return { status, headers, body: { error: { code: codeIn(errorCodesFor(request.url), kind), message, requestId } } };
}

function codeIn(table: ErrorCodes, kind: ApiErrorCode) {
  return table === 'native' ? NATIVE_CODES[kind] : UPSTREAM_CODES[kind];
}

function failureOf(error: unknown, requestId: string, logger?: Logger): Failure {
  if (error instanceof ApiError) return { status: error.getStatus(), kind: error.code, message: error.message, headers: error.headers };
  const known = error instanceof DomainError ? domainFailure(error) : undefined;
  if (known) return known;
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const detail = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : response;
    const message = Array.isArray(detail) ? detail.join('; ') : typeof detail === 'string' ? detail : error.message;
    const kind: ApiErrorCode = status === 400 && Array.isArray(detail) ? 'validation_failed' : (DEFAULT_CODES[status] ?? 'internal');
    return { status, kind, message };
  }
  const fastifyError = error as { statusCode?: number; code?: string; message?: string };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const status = fastifyError.statusCode;
    return { status, kind: DEFAULT_CODES[status] ?? 'bad_request', message: fastifyError.message ?? 'bad request' };
  }
  logger?.error(error instanceof Error ? (error.stack ?? error.message) : String(error), `request ${requestId}`);
  return { status: 500, kind: 'internal', message: 'internal error' };
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { status, body, headers } = toErrorAnswer(exception, request, this.logger);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    void reply.status(status).headers(headers).send(body);
  }
}
