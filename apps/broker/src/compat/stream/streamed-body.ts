import type { FastifyInstance } from 'fastify';

/** Fastify route config (`@RouteConfig(STREAMED_BODY)`) of routes whose handler reads the body as a stream. */
export const STREAMED_BODY = { streamedBody: true } as const;

/** Private media type the flagged routes' requests are re-labelled with, so only its parser sees them. */
const STREAMED_BODY_TYPE = 'application/x-ark-streamed-body';

/**
 * Fastify parses a body before the handler runs, by content type, with parsers that are global to
 * the instance Nest registers every route on. Routes flagged STREAMED_BODY get a pass-through
 * instead: whatever the client says the type is (upstream NDJSON producers send x-ndjson,
 * application/json, text/plain or nothing), the request is re-labelled before parsing and its body
 * arrives in the handler as the unread stream (inflated by the global preParsing hook when
 * compressed), with no body limit. Every other route keeps its parsers.
 */
export function registerStreamedBodies(fastify: FastifyInstance): void {
  fastify.addContentTypeParser(STREAMED_BODY_TYPE, (_request, payload, done) => done(null, payload));
  fastify.addHook('onRequest', (request, _reply, done) => {
    if ((request.routeOptions.config as { streamedBody?: boolean } | undefined)?.streamedBody) request.headers['content-type'] = STREAMED_BODY_TYPE;
    done();
  });
}
