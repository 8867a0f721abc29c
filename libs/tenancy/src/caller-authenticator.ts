import { networkGrantFor, rangeHolds, type AddressRange, type NetworkGrant, type ServiceAccountGrant } from '#ark/config';
import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import type { IncomingHttpHeaders } from 'node:http';
import { looksLikeApiKey, type ApiKeys } from './api-keys.js';
import { LOCAL_IDENTITY, ROLES, type CallerIdentity, type Role } from './caller-identity.js';
import { TokenReviewUnavailable, type KubernetesTokenReview } from './token-review.js';

export interface AuthSettings {
  mode: 'none' | 'jwt' | 'header';
  jwtSecret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  tenantClaim: string;
  userClaim: string;
  rolesClaim: string;
  clockSkewSeconds: number;
  headerTenant: string;
  headerUser: string;
  headerRoles: string;
  /** header mode: the peers whose identity headers count. */
  trustedProxies: readonly AddressRange[];
  /** Callers without credentials from these ranges are let in as their grant (Ark's in-cluster callers). */
  trustedNetworks: readonly NetworkGrant[];
  /** ServiceAccounts let in as their grant, their tokens checked by `tokenReview`. */
  serviceAccounts: readonly ServiceAccountGrant[];
  tokenReview?: KubernetesTokenReview;
  /** Accept JWTs without `exp`. */
  allowNoExp: boolean;
  /** How long a verified token or API key answer is reused; 0: verify every request. */
  cacheSeconds: number;
}

/** Why a request is refused: 401 (who are you?) or 403 (not allowed). */
export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/** NUL and the other C0 controls: PostgreSQL refuses NUL in text, and no tenant or user id needs them. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A Kubernetes ServiceAccount token (legacy or projected), by its unverified claims; TokenReview decides whether it is valid. */
function looksLikeServiceAccountToken(token: string): boolean {
  try {
    const claims = decodeJwt(token);
    return claims.iss === 'kubernetes/serviceaccount' || (typeof claims.sub === 'string' && claims.sub.startsWith('system:serviceaccount:'));
  } catch {
    return false;
  }
}

function rolesOf(value: unknown): Role[] {
  const list = Array.isArray(value) ? value : typeof value === 'string' ? value.split(/[ ,]+/) : [];
  return list.filter((r): r is Role => typeof r === 'string' && (ROLES as readonly string[]).includes(r));
}

/**
 * Turns a request's credentials into the caller's identity (docs/architecture.md#tenancy): a JWT verified with a shared
 * secret or a JWKS, headers from a trusted auth proxy, or an API key (every mode but `none`).
 */
export class CallerAuthenticator {
  private readonly jwtKey: Uint8Array | JWTVerifyGetKey | undefined;
  private readonly algorithms: string[];
  /**
   * Verified credentials, so a flood of requests with one token costs a map lookup, not a signature
   * check or (API keys) a database round trip each. A JWT is kept no longer than it is valid; an
   * API key answer (unknown keys too) for `cacheSeconds`, which bounds how late a revocation counts.
   */
  private readonly verified: LRUCache<string, { identity?: CallerIdentity }> | undefined;

  constructor(
    private readonly settings: AuthSettings,
    private readonly apiKeys: ApiKeys,
  ) {
    if (settings.jwksUrl) {
      this.jwtKey = createRemoteJWKSet(new URL(settings.jwksUrl));
      this.algorithms = ASYMMETRIC;
    } else {
      this.jwtKey = settings.jwtSecret ? new TextEncoder().encode(settings.jwtSecret) : undefined;
      this.algorithms = ['HS256'];
    }
    this.verified = settings.cacheSeconds > 0 ? new LRUCache({ max: 10_000, ttl: settings.cacheSeconds * 1000 }) : undefined;
  }

  /**
   * Credentials first (an API key, a ServiceAccount token, a JWT, a trusted proxy's identity
   * headers); a request with none is let in only from a trusted network, as that network's grant.
   */
  async authenticate(headers: IncomingHttpHeaders, remoteAddress: string | undefined): Promise<CallerIdentity> {
    if (this.settings.mode === 'none') return LOCAL_IDENTITY;
    const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
    if (bearer && looksLikeApiKey(bearer)) {
      const identity = await this.fromApiKey(bearer);
      if (!identity) throw new AuthError(401, 'invalid or revoked API key');
      return identity;
    }
    if (bearer && this.settings.serviceAccounts.length > 0 && looksLikeServiceAccountToken(bearer)) return this.fromServiceAccount(bearer);
    if (this.settings.mode === 'header' && this.hasIdentityHeaders(headers)) return this.fromProxyHeaders(headers, remoteAddress);
    if (this.settings.mode === 'jwt' && bearer) return this.verified?.get(bearer)?.identity ?? this.fromJwt(bearer);
    const network = networkGrantFor(this.settings.trustedNetworks, remoteAddress);
    if (network) return { tenantId: network.tenantId, userId: `network:${network.cidr}`, roles: network.roles };
    throw new AuthError(
      401,
      this.settings.mode === 'header' ? 'identity headers from a trusted proxy, or a Bearer token, are required' : 'missing Bearer token',
    );
  }

  /** A ServiceAccount token: reviewed by the Kubernetes API, then mapped by AUTH_K8S_SERVICE_ACCOUNTS (exact name before `*`). */
  private async fromServiceAccount(token: string): Promise<CallerIdentity> {
    const cached = this.verified?.get(token);
    if (cached) {
      if (!cached.identity) throw new AuthError(401, 'service account token not accepted');
      return cached.identity;
    }
    let user;
    try {
      user = await this.settings.tokenReview!.review(token);
    } catch (error) {
      if (!(error instanceof TokenReviewUnavailable)) throw error;
      throw new AuthError(401, `service account token could not be reviewed: ${error.message}`);
    }
    const grants = this.settings.serviceAccounts.filter((g) => g.namespace === user?.namespace);
    const grant = grants.find((g) => g.name === user?.serviceAccount) ?? grants.find((g) => g.name === '*');
    const identity = user && grant ? { tenantId: grant.tenantId, userId: user.username, roles: grant.roles } : undefined;
    this.verified?.set(token, identity ? { identity } : {});
    if (!identity)
      throw new AuthError(401, user ? `service account ${user.username} is not let in (AUTH_K8S_SERVICE_ACCOUNTS)` : 'service account token not accepted');
    return identity;
  }

  private hasIdentityHeaders(headers: IncomingHttpHeaders): boolean {
    return [this.settings.headerTenant, this.settings.headerUser, this.settings.headerRoles].some((name) => headers[name.toLowerCase()] !== undefined);
  }

  private async fromApiKey(key: string): Promise<CallerIdentity | undefined> {
    const cached = this.verified?.get(key);
    if (cached) return cached.identity;
    const identity = await this.apiKeys.verify(key);
    this.verified?.set(key, identity ? { identity } : {});
    return identity;
  }

  private async fromJwt(token: string): Promise<CallerIdentity> {
    let payload: JWTPayload;
    try {
      const options = {
        algorithms: this.algorithms,
        clockTolerance: this.settings.clockSkewSeconds,
        ...(this.settings.issuer ? { issuer: this.settings.issuer } : {}),
        ...(this.settings.audience ? { audience: this.settings.audience } : {}),
        ...(this.settings.allowNoExp ? {} : { requiredClaims: ['exp'] }),
      };
      payload =
        typeof this.jwtKey === 'function' ? (await jwtVerify(token, this.jwtKey, options)).payload : (await jwtVerify(token, this.jwtKey!, options)).payload;
    } catch (error) {
      throw new AuthError(401, `invalid token: ${(error as Error).message}`);
    }
    const tenantId = payload[this.settings.tenantClaim];
    const userId = payload[this.settings.userClaim];
    if (typeof tenantId !== 'string' || tenantId === '') throw new AuthError(401, `token has no "${this.settings.tenantClaim}" claim`);
    if (typeof userId !== 'string' || userId === '') throw new AuthError(401, `token has no "${this.settings.userClaim}" claim`);
    if (CONTROL.test(tenantId) || CONTROL.test(userId)) throw new AuthError(401, 'token claims may not hold control characters');
    const roles = rolesOf(payload[this.settings.rolesClaim]);
    const identity: CallerIdentity = { tenantId, userId, roles: roles.length > 0 ? roles : ['reader'] };
    // Reused until the token would stop verifying (its `exp` plus the tolerated skew), at most the TTL.
    const validFor = typeof payload.exp === 'number' ? (payload.exp + this.settings.clockSkewSeconds) * 1000 - Date.now() : Infinity;
    if (validFor > 0) this.verified?.set(token, { identity }, { ttl: Math.min(validFor, this.settings.cacheSeconds * 1000) });
    return identity;
  }

  private fromProxyHeaders(headers: IncomingHttpHeaders, remoteAddress: string | undefined): CallerIdentity {
    if (!this.settings.trustedProxies.some((range) => rangeHolds(range, remoteAddress))) {
      throw new AuthError(401, 'identity headers are only accepted from a trusted proxy');
    }
    const read = (name: string) => {
      const value = headers[name.toLowerCase()];
      return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
    };
    const tenantId = read(this.settings.headerTenant);
    const userId = read(this.settings.headerUser);
    if (!tenantId || !userId) throw new AuthError(401, `missing ${this.settings.headerTenant} or ${this.settings.headerUser} header`);
    const roles = rolesOf(read(this.settings.headerRoles));
    return { tenantId, userId, roles: roles.length > 0 ? roles : ['reader'] };
  }
}

/** What a method needs: reading needs `reader`, writing `producer`, deleting `admin` (admin may do all). */
/** POST routes that only read: MCP's calls are all POSTs (`/mcp`). */
const READING_POSTS: ReadonlySet<string> = new Set(['/mcp']);

/** The method a request counts as, for its role and the write rate limit: a POST that only reads counts as a GET. */
export function effectiveMethod(method: string, route: string | undefined): string {
  return method === 'POST' && READING_POSTS.has(route ?? '') ? 'GET' : method;
}

export function requiredRole(method: string): Role {
  if (method === 'GET' || method === 'HEAD') return 'reader';
  if (method === 'DELETE') return 'admin';
  return 'producer';
}

export function mayCall(identity: CallerIdentity, method: string): boolean {
  return identity.roles.includes('admin') || identity.roles.includes(requiredRole(method));
}
