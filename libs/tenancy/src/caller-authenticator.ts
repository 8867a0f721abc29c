import { createRemoteJWKSet, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import type { IncomingHttpHeaders } from 'node:http';
import { looksLikeApiKey, type ApiKeys } from './api-keys.js';
import { LOCAL_IDENTITY, ROLES, type CallerIdentity, type Role } from './caller-identity.js';

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
  trustedProxies: readonly string[];
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

  async authenticate(headers: IncomingHttpHeaders, remoteAddress: string | undefined): Promise<CallerIdentity> {
    if (this.settings.mode === 'none') return LOCAL_IDENTITY;
    const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
    if (bearer && looksLikeApiKey(bearer)) {
      const identity = await this.fromApiKey(bearer);
      if (!identity) throw new AuthError(401, 'invalid or revoked API key');
      return identity;
    }
    if (this.settings.mode === 'header') return this.fromProxyHeaders(headers, remoteAddress);
    if (!bearer) throw new AuthError(401, 'missing Bearer token');
    const cached = this.verified?.get(bearer)?.identity;
    return cached ?? this.fromJwt(bearer);
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
    const roles = rolesOf(payload[this.settings.rolesClaim]);
    const identity: CallerIdentity = { tenantId, userId, roles: roles.length > 0 ? roles : ['reader'] };
    // Reused until the token would stop verifying (its `exp` plus the tolerated skew), at most the TTL.
    const validFor = typeof payload.exp === 'number' ? (payload.exp + this.settings.clockSkewSeconds) * 1000 - Date.now() : Infinity;
    if (validFor > 0) this.verified?.set(token, { identity }, { ttl: Math.min(validFor, this.settings.cacheSeconds * 1000) });
    return identity;
  }

  private fromProxyHeaders(headers: IncomingHttpHeaders, remoteAddress: string | undefined): CallerIdentity {
    if (!remoteAddress || !this.settings.trustedProxies.includes(remoteAddress)) {
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
export function requiredRole(method: string): Role {
  if (method === 'GET' || method === 'HEAD') return 'reader';
  if (method === 'DELETE') return 'admin';
  return 'producer';
}

export function mayCall(identity: CallerIdentity, method: string): boolean {
  return identity.roles.includes('admin') || identity.roles.includes(requiredRole(method));
}
