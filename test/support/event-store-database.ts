import type pg from 'pg';
import { loadBrokerConfig } from '#ark/config';
import { createPool, DatabaseConnection, migrate } from '#ark/database';
import { EventLogRepository, GroupCommitWriter, type GroupCommitOptions, type InlineProjector } from '#ark/event-store';
import { inlineProjectors, WorkSteps } from '#ark/projections';
import { createTestDatabase, type TestDatabase } from './test-database.js';

/** The broker's defaults (libs/config), except a single batch in flight, which keeps batching predictable. */
const WRITER_DEFAULTS: GroupCommitOptions = { windowMs: 0, maxBatchEvents: 5_000, maxQueuedEvents: 100_000, maxInFlight: 1 };

export interface EventStoreDatabase {
  database: TestDatabase;
  /** The broker's connection: its pool works as the broker role, under row-level security. */
  connection: DatabaseConnection;
  /** A writer with the broker's inline projectors. */
  writer: GroupCommitWriter;
  /** Another writer on the same connection; no `projectors`: the broker's. */
  newWriter(options?: Partial<GroupCommitOptions>, projectors?: readonly InlineProjector[]): GroupCommitWriter;
  /** The tables' owner, for the test's own reads: row-level security does not apply to it. */
  sql: pg.Pool;
  close(): Promise<void>;
}

/**
 * A fresh migrated database and the broker's append path over it (group-commit writer, event log,
 * inline projectors), wired as the event-store and projections modules wire them, without HTTP.
 */
export async function openEventStoreDatabase(): Promise<EventStoreDatabase> {
  const database = await createTestDatabase();
  const sql = createPool({ connectionString: database.url, max: 2, applicationName: 'ark-unit-test' });
  await migrate(sql);
  const connection = new DatabaseConnection({ url: database.url, poolSize: 8 });
  const log = new EventLogRepository(connection.db);
  const newWriter = (
    options: Partial<GroupCommitOptions> = {},
    projectors: readonly InlineProjector[] = inlineProjectors({ sessionsTtlSeconds: loadBrokerConfig({}).SESSIONS_VISIBILITY_TTL_SECONDS }),
  ) => new GroupCommitWriter(connection.db, log, projectors, { ...WRITER_DEFAULTS, ...options }, new WorkSteps());
  const writer = newWriter();
  return {
    database,
    connection,
    writer,
    newWriter,
    sql,
    close: async () => {
      await writer.drain();
      await connection.close();
      await sql.end();
      await database.drop();
    },
  };
}
