import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { ApiError, jsonNestsDeeperThan, MAX_JSON_DEPTH } from '#ark/http';

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * Body handling shared by every route: compressed bodies are inflated as a stream before parsing, so
 * the body limit applies to the inflated size and a gzip bomb is cut off while inflating; an empty
 * JSON body is no body (Ark's Go client sends `Content-Type: application/json` on body-less POSTs
 * and DELETEs, which upstream's Express accepts); JSON nested deeper than MAX_JSON_DEPTH is a 400
 * before any route sees it; OTLP protobuf bodies arrive as a Buffer.
 */
export function registerBodyParsers(fastify: FastifyInstance): void {
  fastify.addHook('preParsing', (request, _reply, payload, done) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (!encoding || encoding === 'identity') return done(null, payload);
    const decoder = DECODERS[encoding]?.();
    if (!decoder) return done(new ApiError(415, 'unsupported_media_type', `unsupported content encoding ${JSON.stringify(encoding)}`), payload);
    // Fastify compares Content-Length with the encoded bytes when this counter is present.
    const counted = decoder as Transform & { receivedEncodedLength: number };
    counted.receivedEncodedLength = 0;
    payload.on('data', (chunk: Buffer) => (counted.receivedEncodedLength += chunk.length));
    payload.on('error', (error) => decoder.destroy(error));
    decoder.on('error', (error: Error & { statusCode?: number }) => {
      error.statusCode ??= 400;
      error.message = `cannot decode ${encoding} body: ${error.message}`;
    });
    done(null, payload.pipe(decoder));
  });

  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  // application/a2a+json: A2A push notifications (the `@a2a-js/sdk` sender) are JSON under the protocol's own type.
  fastify.addContentTypeParser(['application/json', 'application/a2a+json'], { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) return done(null, undefined);
    void parseJson(request, body.toString(), (error: Error | null, value?: unknown) => {
      if (error) return done(error, undefined);
      if (jsonNestsDeeperThan(value)) return done(ApiError.badRequest(`the JSON body nests deeper than ${MAX_JSON_DEPTH} levels`), undefined);
      done(null, value);
    });
  });

  fastify.addContentTypeParser(['application/x-protobuf', 'application/protobuf'], { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}
