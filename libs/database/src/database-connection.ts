import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { createPool } from './pool.js';
import type { Database } from './schema.js';

export interface DatabaseOptions {
  url: string;
  poolSize: number;
}

/** The process's one pool, with Kysely on top; raw `pool` for the few statements Kysely cannot express. */
export class DatabaseConnection {
  readonly pool: pg.Pool;
  readonly db: Kysely<Database>;

  constructor(readonly options: DatabaseOptions) {
    this.pool = createPool({ connectionString: options.url, max: options.poolSize });
    this.db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: this.pool }) });
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    await this.db.destroy();
  }
}
