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

  constructor(readonly options: DatabaseOptions) {
    this.pool = createPool({ connectionString: options.url, max: options.poolSize, ...(options.asBrokerRole === false ? {} : { role: BROKER_ROLE }) });
    this.db = new Kysely<Database>({ dialect: new TenantScopedPostgresDialect({ pool: this.pool }), log: options.log });
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
