import pg from 'pg';
import { DatabaseConnection, migrate } from '#ark/database';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export interface PlanLoggingDatabase {
  database: TestDatabase;
  /** The tables' owner, for seeding and growing tables. */
  owner: pg.Pool;
  /** The broker's connection (one pooled connection, as the broker's role): what it plans is logged. */
  connection: DatabaseConnection;
  /** auto_explain's plans of the broker's connection, as notices, in order. */
  plans: string[];
  close(): Promise<void>;
}

/**
 * A migrated database whose broker connection reports every plan it runs (auto_explain as notices),
 * with autovacuum off on `table` so its statistics are only what the test makes them. `settings` are
 * added to the database's (e.g. `plan_cache_mode = force_generic_plan`).
 */
export async function openPlanLoggingDatabase(table: string, settings: readonly string[] = []): Promise<PlanLoggingDatabase> {
  const database = await createTestDatabase();
  const owner = new pg.Pool({ connectionString: database.url, max: 1 });
  await migrate(owner);
  await owner.query(`ALTER TABLE ${pg.escapeIdentifier(table)} SET (autovacuum_enabled = false)`);
  const name = pg.escapeIdentifier(new URL(database.url).pathname.slice(1));
  for (const setting of ["session_preload_libraries = 'auto_explain'", 'auto_explain.log_min_duration = 0', "auto_explain.log_level = 'notice'", ...settings]) {
    await owner.query(`ALTER DATABASE ${name} SET ${setting}`);
  }
  const plans: string[] = [];
  const connection = new DatabaseConnection({ url: database.url, poolSize: 1 });
  connection.pool.on('connect', (client) => client.on('notice', (notice) => plans.push(notice.message ?? '')));
  return {
    database,
    owner,
    connection,
    plans,
    close: async () => {
      await connection.close();
      await owner.end();
      await database.drop();
    },
  };
}
