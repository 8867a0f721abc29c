import { createHash, randomBytes } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import { GenerateSql, type Database } from '#ark/database';

type ApiKeysRow = Selectable<Database['api_keys']>;
import { ROLES, type CallerIdentity, type Role } from './caller-identity.js';

const KEY_PATTERN = /^ark_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  name: string;
  roles: Role[];
  namespaces: string[] | null;
  createdAt: Date;
  revokedAt: Date | null;
}

const hash = (secret: string) => createHash('sha256').update(secret).digest('hex');

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith('ark_');
}

/** API keys (`ark_<id>_<secret>`), bound to a tenant and roles; created and revoked with `ark-broker keys`. */
export class ApiKeys {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates a key; the returned `key` is shown once and never stored. */
  @GenerateSql({ tenants: ['t'], params: ['t', 'ci', ['producer'], ['ns']] })
  async create(tenantId: string, name: string, roles: readonly Role[], namespaces?: readonly string[]): Promise<{ id: string; key: string }> {
    for (const role of roles) if (!ROLES.includes(role)) throw new Error(`unknown role ${role} (roles: ${ROLES.join(', ')})`);
    const id = randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')
      .slice(0, 12);
    const secret = randomBytes(32).toString('base64url');
    await this.db
      .insertInto('api_keys')
      .values({
        id,
        tenant_id: tenantId,
        name,
        roles: [...roles],
        namespaces: namespaces ? [...namespaces] : null,
        secret_hash: hash(secret),
        revoked_at: null,
      })
      .execute();
    return { id, key: `ark_${id}_${secret}` };
  }

  @GenerateSql({ name: 'every tenant', params: [] }, { name: 'one tenant', params: ['t'] })
  async list(tenantId?: string): Promise<ApiKeyInfo[]> {
    let query = this.db.selectFrom('api_keys').selectAll().orderBy('created_at');
    if (tenantId) query = query.where('tenant_id', '=', tenantId);
    return (await query.execute()).map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      name: r.name,
      roles: r.roles as Role[],
      namespaces: r.namespaces,
      createdAt: r.created_at,
      revokedAt: r.revoked_at,
    }));
  }

  /** True when a live key was revoked. */
  @GenerateSql({ params: ['abcdefghijkl'] })
  async revoke(id: string): Promise<boolean> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: new Date() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** The identity a presented key stands for, or undefined (unknown, malformed, revoked). */
  @GenerateSql({ params: [`ark_abcdefghijkl_${'A'.repeat(43)}`] })
  async verify(presented: string): Promise<CallerIdentity | undefined> {
    const match = KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    // Through ark_api_key (migrations/functions/ark_api_key.sql): the broker's role cannot read
    // api_keys; the function answers only for the id together with the hash of its secret.
    const { rows } = await sql<Pick<ApiKeysRow, 'id' | 'tenant_id' | 'roles' | 'namespaces'>>`
      SELECT id, tenant_id, roles, namespaces FROM ark_api_key(${match[1]!}, ${hash(match[2]!)})`.execute(this.db);
    const row = rows[0];
    if (!row) return undefined;
    return {
      tenantId: row.tenant_id,
      userId: `key:${row.id}`,
      roles: row.roles as Role[],
      ...(row.namespaces && row.namespaces.length > 0 ? { namespaces: row.namespaces } : {}),
    };
  }
}
