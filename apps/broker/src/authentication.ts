import type { FastifyInstance } from 'fastify';
import { parseAddressRanges, parseNetworkGrants, parseServiceAccountGrants, type BrokerConfig } from '#ark/config';
import type { Kysely } from 'kysely';
import type { Database } from '#ark/database';
import { ApiError, toErrorAnswer } from '#ark/http';
import {
  ApiKeys,
  AuthError,
  CallerAuthenticator,
  effectiveMethod,
  KubernetesTokenReview,
  mayCall,
  requiredRole,
  type AuthSettings,
  type CallerIdentity,
} from '#ark/tenancy';

/** Routes anyone may call: probes, metrics, the API description and the viewer's static files (`/` redirects to them). */
/** Routes anyone may call: probes, metrics, the API description and the viewer's files. */
export const PUBLIC = /^\/(health|readyz|metrics|openapi\.json|api-docs|ui)(\/|\?|$)|^\/(\?|$)/;

export function authSettings(config: BrokerConfig): AuthSettings {
  return {
    mode: config.AUTH_MODE,
    jwtSecret: config.AUTH_JWT_SECRET,
    jwksUrl: config.AUTH_JWKS_URL,
    issuer: config.AUTH_JWT_ISSUER,
    audience: config.AUTH_JWT_AUDIENCE,
    tenantClaim: config.AUTH_TENANT_CLAIM,
    userClaim: config.AUTH_USER_CLAIM,
    rolesClaim: config.AUTH_ROLES_CLAIM,
    clockSkewSeconds: config.AUTH_CLOCK_SKEW_SECONDS,
    cacheSeconds: config.AUTH_CACHE_SECONDS,
    headerTenant: config.AUTH_HEADER_TENANT,
    headerUser: config.AUTH_HEADER_USER,
    headerRoles: config.AUTH_HEADER_ROLES,
    trustedProxies: parseAddressRanges(config.AUTH_TRUSTED_PROXIES),
    trustedNetworks: parseNetworkGrants(config.AUTH_TRUSTED_NETWORKS),
    serviceAccounts: parseServiceAccountGrants(config.AUTH_K8S_SERVICE_ACCOUNTS),
    allowNoExp: config.AUTH_JWT_ALLOW_NO_EXP,
    ...(config.AUTH_K8S_SERVICE_ACCOUNTS.trim()
      ? {
          tokenReview: new KubernetesTokenReview({
            apiUrl: config.AUTH_K8S_API_URL,
            tokenFile: config.AUTH_K8S_TOKEN_FILE,
            caFile: config.AUTH_K8S_CA_FILE,
            audiences: config.AUTH_K8S_AUDIENCES.split(',')
              .map((a) => a.trim())
              .filter(Boolean),
          }),
        }
      : {}),
  };
}

/**
 * Authenticates every request before its body is read: the caller's identity (tenant, user, roles)
 * goes on `request.identity` for `@Caller()`; a request without valid credentials gets 401, one whose
 * roles do not allow the method 403 (reading needs `reader`, writing `producer`, deleting `admin`).
 */
export function registerAuthentication(fastify: FastifyInstance, config: BrokerConfig, db: Kysely<Database>): void {
  if (config.AUTH_MODE !== 'none') authenticateRequests(fastify, config, db);
  if (!config.ALLOW_PURGE_ALL) refusePurgeAll(fastify);
}

/** Upstream's DELETEs without an id, which empty a whole collection of the caller's tenant. */
const PURGE_ALL_ROUTES = new Set(['/traces', '/events', '/sessions', '/messages', '/conversations', '/stream']);

/** ALLOW_PURGE_ALL=false: those DELETEs answer 403 `purge_all_disabled`, whoever calls (admins included). */
function refusePurgeAll(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'DELETE' || !PURGE_ALL_ROUTES.has(request.routeOptions.url ?? '')) return;
    const { body } = toErrorAnswer(new ApiError(403, 'purge_all_disabled', 'deleting a whole collection is switched off (ALLOW_PURGE_ALL=false)'), request);
    return reply.code(403).send(body);
  });
}

function authenticateRequests(fastify: FastifyInstance, config: BrokerConfig, db: Kysely<Database>): void {
  const authenticator = new CallerAuthenticator(authSettings(config), new ApiKeys(db));
  fastify.addHook('onRequest', async (request, reply) => {
    if (PUBLIC.test(request.url)) return;
    let identity: CallerIdentity;
    try {
      identity = await authenticator.authenticate(request.headers, request.socket.remoteAddress);
      const method = effectiveMethod(request.method, request.routeOptions.url);
      if (!mayCall(identity, method)) throw new AuthError(403, `this route needs the ${requiredRole(method)} role`);
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      const status = error.status;
      const { body } = toErrorAnswer(new ApiError(status, status === 401 ? 'unauthorized' : 'forbidden', error.message), request);
      if (status === 401) void reply.header('WWW-Authenticate', 'Bearer');
      return reply.code(status).send(body);
    }
    (request as { identity?: CallerIdentity }).identity = identity;
  });
}
