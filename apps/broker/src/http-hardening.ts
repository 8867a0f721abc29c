import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { BrokerConfig } from '#ark/config';
import { ApiError, toErrorAnswer } from '#ark/http';
import type { CallerIdentity } from '#ark/tenancy';

/**
 * Secure headers on every answer, CORS only for the configured origins (upstream allowed `*`), and a
 * per-tenant limit on writes (after authentication, so the tenant is known).
 */
export async function registerHardening(app: NestFastifyApplication, config: BrokerConfig): Promise<void> {
  // The API serves JSON and SSE; the one HTML page (Swagger UI) needs its inline scripts.
  await app.register(helmet, { contentSecurityPolicy: false, crossOriginEmbedderPolicy: false });
  const origins = config.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
  await app.register(cors, {
    origin: origins.length > 0 ? origins : false,
    exposedHeaders: ['X-Request-ID', 'Retry-After'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Content-Encoding', 'Last-Event-ID', 'X-Request-ID', 'Idempotency-Key'],
  });
  if (config.RATE_LIMIT_WRITES_PER_SECOND > 0) {
    await app.register(rateLimit, {
      max: config.RATE_LIMIT_WRITES_PER_SECOND,
      timeWindow: 1000,
      hook: 'preHandler',
      allowList: (request) => request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS',
      keyGenerator: (request) => (request as { identity?: CallerIdentity }).identity?.tenantId ?? 'default',
      errorResponseBuilder: (request, context) => ({
        statusCode: 429,
        ...toErrorAnswer(new ApiError(429, 'rate_limited', `write rate limit of ${context.max}/s for this tenant exceeded`), String(request.id)).body,
      }),
    });
  }
}
