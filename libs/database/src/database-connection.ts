import { Kysely, type KyselyConfig } from 'kysely';
import type pg from 'pg';
import { createPool } from './pool.js';
import type { Database } from './schema.js';
import { TenantScopedPostgresDialect } from './tenant-scope.js';

/** The role the broker works as (migrations/0030): row-level security applies to it. */
export const BROKER_ROLE = 'ark_broker_app';

export interface DatabaseOptions {
  url: string;
  poolSize: number;
  /** false: work as the login user itself (the operator's tools: API keys, analyst grants), not as BROKER_ROLE. */
  asBrokerRole?: boolean;
  /** Kysely's query log: `npm run sql:generate` records the statements the repositories send with it. */
  log?: KyselyConfig['log'];
}

/**
 * The process's one pool, working as BROKER_ROLE, with Kysely on top: every transaction carries the
 * tenant scope (tenant-scope.ts). Raw `pool` only for statements that touch no tenant table: a pooled
 * connection keeps the session-level tenant setting of its last scoped statement.
 */
export class DatabaseConnection {
  readonly pool: pg.Pool;
  readonly db: Kysely<Database>;
  private generic: Kysely<Database> | undefined;

  constructor(readonly options: DatabaseOptions) {
    this.pool = createPool({ connectionString: options.url, max: options.poolSize, ...(options.asBrokerRole === false ? {} : { role: BROKER_ROLE }) });
    this.db = new Kysely<Database>({ dialect: new TenantScopedPostgresDialect({ pool: this.pool }), log: options.log });
  }

  /**
   * A second, smaller pool whose connections plan every statement generically
   * (`plan_cache_mode = force_generic_plan`), opened on first use: for PREPARED statements over the
   * partitioned `events` whose custom plans cost more to make than to run. PostgreSQL keeps choosing
   * custom plans for them (a custom plan prunes partitions at plan time, so it looks cheaper), though
   * a generic one prunes them too, at executor start, by the same parameters (EventLogRepository.readFeed).
   * Only such statements go here: an unnamed statement would be planned generically too.
   */
  get genericPlans(): Kysely<Database> {
    if (this.generic === undefined) {
      const pool = createPool({
        connectionString: this.options.url,
        max: Math.max(2, Math.ceil(this.options.poolSize / 2)),
        applicationName: 'ark-broker-generic-plans',
        ...(this.options.asBrokerRole === false ? {} : { role: BROKER_ROLE }),
        settings: { plan_cache_mode: 'force_generic_plan' },
      });
      this.generic = new Kysely<Database>({ dialect: new TenantScopedPostgresDialect({ pool }), log: this.options.log });
    }
    return this.generic;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.generic?.destroy();
    await this.db.destroy();
  }
}
