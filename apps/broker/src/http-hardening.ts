import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { BrokerConfig } from '#ark/config';
import { ApiError, toErrorAnswer } from '#ark/http';
import { effectiveMethod, type CallerIdentity } from '#ark/tenancy';
import { tokenBucketStore } from './write-rate-limit.js';

/**
 * Secure headers on every answer, CORS only for the configured origins (upstream allowed `*`), a
 * per-tenant limit on writes (after authentication, before the body is read), and a deadline for
 * request bodies.
 */
export async function registerHardening(app: NestFastifyApplication, config: BrokerConfig): Promise<void> {
  refuseNulInUrl(app);
  registerBodyTimeout(app, config.REQUEST_BODY_TIMEOUT_MS);
  // The API serves JSON and SSE; the one HTML page (Swagger UI) needs its inline scripts.
  await app.register(helmet, { contentSecurityPolicy: false, crossOriginEmbedderPolicy: false });
  const origins = config.CORS_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  await app.register(cors, {
    origin: origins.length > 0 ? origins : false,
    exposedHeaders: ['X-Request-ID', 'Retry-After'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding', 'Last-Event-ID', 'X-Request-ID', 'Idempotency-Key'],
  });
  if (config.RATE_LIMIT_WRITES_PER_SECOND > 0) {
    const perSecond = config.RATE_LIMIT_WRITES_PER_SECOND;
    await app.register(rateLimit, {
      max: perSecond,
      store: tokenBucketStore(perSecond),
      // Route-level onRequest hooks run after the global ones, so authentication has named the
      // tenant; the refusal comes before the body is read or parsed.
      hook: 'onRequest',
      // Only Retry-After: the plugin's x-ratelimit-* headers describe fixed windows, not a bucket.
      addHeaders: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false, 'retry-after': true },
      addHeadersOnExceeding: { 'x-ratelimit-limit': false, 'x-ratelimit-remaining': false, 'x-ratelimit-reset': false },
      allowList: (request) => ['GET', 'HEAD', 'OPTIONS'].includes(effectiveMethod(request.method, request.routeOptions.url)),
      keyGenerator: (request) => (request as { identity?: CallerIdentity }).identity?.tenantId ?? 'default',
      errorResponseBuilder: (request) => ({
        statusCode: 429,
        ...toErrorAnswer(new ApiError(429, 'rate_limited', `write rate limit of ${config.RATE_LIMIT_WRITES_PER_SECOND}/s for this tenant exceeded`), request)
          .body,
      }),
    });
  }
}

/** A NUL in a path or query parameter (`%00`) is a 400: no id or filter holds one, and PostgreSQL refuses it in text. */
function refuseNulInUrl(app: NestFastifyApplication): void {
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', (request, reply, done) => {
      if (!/%00/i.test(request.url) && !request.url.includes('\0')) return done();
      const { status, body } = toErrorAnswer(new ApiError(400, 'bad_request', 'the path or query holds a NUL character (%00)'), request);
      void reply.code(status).send(body);
    });
}

/**
 * A request body must have arrived within `ms` (slow-body clients cannot hold connections and
 * memory): 408 `request_timeout`, then the connection is closed. The server-wide request timeout is
 * off because long chunk uploads (streamed bodies, read by their handler) and SSE watches (GET, no
 * body) must not be cut; both are left out here.
 */
function registerBodyTimeout(app: NestFastifyApplication, ms: number): void {
  if (ms === 0) return;
  const fastify = app.getHttpAdapter().getInstance();
  const timers = new WeakMap<object, NodeJS.Timeout>();
  fastify.addHook('onRequest', (request, reply, done) => {
    const streamed = (request.routeOptions.config as { streamedBody?: boolean } | undefined)?.streamedBody;
    if (streamed || request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return done();
    const timer = setTimeout(() => {
      if (reply.sent || reply.raw.headersSent) return;
      const { status, body } = toErrorAnswer(new ApiError(408, 'request_timeout', `the request body did not arrive within ${ms} ms`), request);
      reply.raw.once('finish', () => request.raw.socket.destroy());
      void reply.code(status).header('connection', 'close').send(body);
    }, ms);
    timer.unref();
    timers.set(request, timer);
    done();
  });
  const clear = (request: object, _reply: unknown, done: () => void) => {
    clearTimeout(timers.get(request));
    done();
  };
  fastify.addHook('preValidation', clear);
  fastify.addHook('onResponse', clear);
}
