import { sql, type Kysely } from 'kysely';
import { EXAMPLE_ADMIN, GenerateSql, inScope, type Database, type ReadScope } from '#ark/database';

/** A tenant's own visibility TTLs (`tenant_retention`, migrations/0171); null: the broker's setting. */
export interface RetentionOverrides {
  messageTtlSeconds: number | null;
  eventTtlSeconds: number | null;
  sessionsTtlSeconds: number | null;
}

/** `tenant_retention`: what each tenant set, over the broker's defaults. */
export class TenantRetentionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The tenant's overrides; all null when it set none. */
  @GenerateSql({ params: [EXAMPLE_ADMIN] })
  async find(scope: ReadScope): Promise<RetentionOverrides> {
    const { rows } = await inScope(scope, () =>
      sql<{ message_ttl_seconds: number | null; event_ttl_seconds: number | null; sessions_ttl_seconds: number | null }>`
        SELECT message_ttl_seconds, event_ttl_seconds, sessions_ttl_seconds FROM tenant_retention WHERE tenant_id = ${scope.tenantId}`.execute(this.db),
    );
    const row = rows[0];
    return {
      messageTtlSeconds: row?.message_ttl_seconds ?? null,
      eventTtlSeconds: row?.event_ttl_seconds ?? null,
      sessionsTtlSeconds: row?.sessions_ttl_seconds ?? null,
    };
  }

  /** Replaces the tenant's overrides (all null: the row goes). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, { messageTtlSeconds: 60, eventTtlSeconds: null, sessionsTtlSeconds: 120 }] })
  async save(scope: ReadScope, overrides: RetentionOverrides): Promise<void> {
    const { messageTtlSeconds: m, eventTtlSeconds: e, sessionsTtlSeconds: s } = overrides;
    await inScope(scope, () =>
      m === null && e === null && s === null
        ? sql`DELETE FROM tenant_retention WHERE tenant_id = ${scope.tenantId}`.execute(this.db)
        : sql`
            INSERT INTO tenant_retention (tenant_id, message_ttl_seconds, event_ttl_seconds, sessions_ttl_seconds)
            VALUES (${scope.tenantId}, ${m}, ${e}, ${s})
            ON CONFLICT (tenant_id) DO UPDATE SET message_ttl_seconds = excluded.message_ttl_seconds,
              event_ttl_seconds = excluded.event_ttl_seconds, sessions_ttl_seconds = excluded.sessions_ttl_seconds, updated_at = now()`.execute(this.db),
    );
  }
}
