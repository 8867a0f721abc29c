import http from 'node:http';
import type { HttpStatus } from '@nestjs/common';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { ApiError, requestIdFor, toErrorAnswer } from '#ark/http';

/** Longest path segment the router matches (ids are at most 512 characters, percent-encoding may triple them). */
export const MAX_PATH_SEGMENT_CHARS = 2_048;

/**
 * What Fastify and Node answer before any hook or route — a path segment over the router's limit
 * (414), request headers over Node's limit (431), a request that is not HTTP (400) — in the API's
 * envelope, never echoing the URL.
 */
export function frameworkErrorOptions(): Pick<FastifyServerOptions, 'routerOptions' | 'frameworkErrors' | 'clientErrorHandler'> {
  return {
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT_CHARS },
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const refusal =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new ApiError(414, 'uri_too_long', `a path segment is longer than ${MAX_PATH_SEGMENT_CHARS} characters`)
          : new ApiError(400, 'bad_request', 'the URL is not valid');
      const { status, body } = toErrorAnswer(refusal, { id: request.id, url: request.url });
      void reply.code(status).header('X-Request-ID', String(request.id)).header('X-Content-Type-Options', 'nosniff').send(body);
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return;
      const refusal =
        error.code === 'HPE_HEADER_OVERFLOW'
          ? new ApiError(431 as HttpStatus, 'headers_too_large', 'the request line and headers are larger than the server reads')
          : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? new ApiError(408, 'request_timeout', 'the request did not arrive in time')
            : new ApiError(400, 'bad_request', 'the request is not valid HTTP');
      // Nothing of the request is trusted here: a fresh id, and upstream's code table (the path is unknown).
      const id = requestIdFor({ headers: {} } as http.IncomingMessage);
      const { status, body } = toErrorAnswer(refusal, { id, url: '/' });
      const text = JSON.stringify(body);
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
            `X-Request-ID: ${id}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${text}`,
        );
      }
      socket.destroy(error);
    },
  };
}
