import { sql, type Kysely } from 'kysely';
import { GenerateSql, type Database } from '#ark/database';

/** The SQL role analysts log in as (or a role they are members of) is granted this role (migrations/0150). */
export const ANALYST_ROLE = 'ark_analyst';

export interface AnalystGrant {
  roleName: string;
  tenantId: string;
  grantedAt: Date;
}

/**
 * The operator's mapping from database roles to the tenants they may read through the analyst_*
 * views (`analyst_tenants`, migrations/0150; README "Analysts"). Used by `ark-broker analysts`, as the
 * tables' owner: analysts and the broker's role can neither read nor change it.
 */
export class AnalystTenants {
  constructor(private readonly db: Kysely<Database>) {}

  /** Lets `roleName` read `tenantId`, and grants it the analyst role (views only) if it does not have it. */
  @GenerateSql({ params: [ANALYST_ROLE, 't'] })
  async grant(roleName: string, tenantId: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('analyst_tenants')
        .values({ role_name: roleName, tenant_id: tenantId })
        .onConflict((c) => c.doNothing())
        .execute();
      const { rows } = await sql<{ member: boolean }>`
        SELECT pg_has_role(r.oid, ${ANALYST_ROLE}, 'MEMBER') AS member FROM pg_roles r WHERE r.rolname = ${roleName}`.execute(trx);
      if (rows.length === 0) throw new Error(`role ${roleName} does not exist: create it first (CREATE ROLE ${roleName} LOGIN PASSWORD '…')`);
      if (!rows[0]!.member) await sql`GRANT ${sql.id(ANALYST_ROLE)} TO ${sql.id(roleName)}`.execute(trx);
    });
  }

  /** Takes one tenant (or, without `tenantId`, every tenant) away from `roleName`; the number of tenants it lost. */
  @GenerateSql({ name: 'one tenant', params: ['analyst_a', 't'] }, { name: 'every tenant', params: ['analyst_a'] })
  async revoke(roleName: string, tenantId?: string): Promise<number> {
    let query = this.db.deleteFrom('analyst_tenants').where('role_name', '=', roleName);
    if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
    return Number((await query.executeTakeFirst()).numDeletedRows);
  }

  @GenerateSql({ params: [] })
  async list(): Promise<AnalystGrant[]> {
    const rows = await this.db.selectFrom('analyst_tenants').selectAll().orderBy('role_name').orderBy('tenant_id').execute();
    return rows.map((r) => ({ roleName: r.role_name, tenantId: r.tenant_id, grantedAt: r.granted_at }));
  }
}
