import { Catch, HttpException, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  DomainError,
  InvalidArgumentError,
  InvalidCursorError,
  MalformedInputError,
  NamespaceForbiddenError,
  NotFoundError,
  TooManyWatchesError,
  UnavailableError,
} from '#ark/errors';
import { ApiError, DEFAULT_CODES, type ApiErrorBody, type ApiErrorCode } from './api-error.js';

export interface ErrorAnswer {
  status: number;
  body: ApiErrorBody;
  headers: Record<string, string>;
}

/** The answer to each kind of domain error: the one place they meet HTTP (native and upstream routes alike). */
const DOMAIN_ANSWERS: readonly [abstract new (...args: never[]) => DomainError, number, ApiErrorCode][] = [
  [NotFoundError, 404, 'not_found'],
  [InvalidArgumentError, 400, 'validation_failed'],
  [InvalidCursorError, 400, 'invalid_cursor'],
  [MalformedInputError, 400, 'bad_request'],
  [NamespaceForbiddenError, 403, 'namespace_forbidden'],
  [TooManyWatchesError, 429, 'too_many_watches'],
  [UnavailableError, 503, 'unavailable'],
];

function domainAnswer(error: DomainError, requestId: string): ErrorAnswer | undefined {
  const match = DOMAIN_ANSWERS.find(([kind]) => error instanceof kind);
  if (!match) return undefined;
  const headers: Record<string, string> =
    error instanceof TooManyWatchesError || error instanceof UnavailableError ? { 'Retry-After': String(error.retryAfterSeconds) } : {};
  return answer(match[1], match[2], error.message, requestId, headers);
}

/** Turns any thrown value into the API's error envelope. Stack traces go to the log, never the body. */
export function toErrorAnswer(error: unknown, requestId: string, logger?: Logger): ErrorAnswer {
  if (error instanceof ApiError) {
    return answer(error.getStatus(), error.code, error.message, requestId, error.headers);
  }
  const known = error instanceof DomainError ? domainAnswer(error, requestId) : undefined;
  if (known) return known;
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const response = error.getResponse();
    const detail = typeof response === 'object' && response !== null ? (response as { message?: unknown }).message : response;
    const message = Array.isArray(detail) ? detail.join('; ') : typeof detail === 'string' ? detail : error.message;
    const code: ApiErrorCode = status === 400 && Array.isArray(detail) ? 'validation_failed' : (DEFAULT_CODES[status] ?? 'internal');
    return answer(status, code, message, requestId);
  }
  const fastifyError = error as { statusCode?: number; code?: string; message?: string };
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    const status = fastifyError.statusCode;
    return answer(status, DEFAULT_CODES[status] ?? 'bad_request', fastifyError.message ?? 'bad request', requestId);
  }
  logger?.error(error instanceof Error ? (error.stack ?? error.message) : String(error), `request ${requestId}`);
  return answer(500, 'internal', 'internal error', requestId);
}

function answer(status: number, code: ApiErrorCode, message: string, requestId: string, headers: Record<string, string> = {}): ErrorAnswer {
  return { status, headers, body: { error: { code, message, requestId } } };
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('ApiExceptionFilter');

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const { status, body, headers } = toErrorAnswer(exception, String(request.id), this.logger);
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy();
      return;
    }
    void reply.status(status).headers(headers).send(body);
  }
}
