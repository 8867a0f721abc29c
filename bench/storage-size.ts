import { withClient } from './postgres-server.js';

const MIB = 1024 ** 2;

/** How a store's tables divide: the event log (events and stream heads) and everything derived from it. */
export interface StoreLayout {
  /** The table whose rows are the events stored. */
  eventsTable: string;
  /** Tables that are the log itself; every other table of the schema counts as read models (or bookkeeping). */
  logTables: readonly string[];
}

export const BROKER_LAYOUT: StoreLayout = { eventsTable: 'events', logTables: ['events', 'event_streams'] };
/** Emmett's PostgreSQL schema: `emt_messages` (partitioned) and `emt_streams`. */
export const EMMETT_LAYOUT: StoreLayout = { eventsTable: 'emt_messages', logTables: ['emt_messages', 'emt_streams'] };

export interface TableSize {
  table: string;
  /** pg_total_relation_size (heap, indexes, TOAST) summed over the table's partitions. */
  bytes: number;
  part: 'log' | 'read models';
}

export interface StorageSize {
  store: string;
  database: string;
  events: number;
  tables: TableSize[];
  logMiB: number;
  readModelMiB: number;
  /** pg_database_size: every table, index and the catalog. */
  databaseMiB: number;
  /** MiB per 1,000,000 events stored; NaN with no events. */
  logMiBPerMillionEvents: number;
  readModelMiBPerMillionEvents: number;
  logBytesPerEvent: number;
}

/**
 * What a store's database holds after the run, per table of the public schema (partitioned tables
 * as the sum of their partitions), and per million events: how the disk cost grows with the log.
 */
export async function measureStorage(store: string, databaseUrl: string, layout: StoreLayout): Promise<StorageSize> {
  return withClient(databaseUrl, async (client) => {
    // Vacuum-free: sizes as left by the workload, dead tuples included, as an operator would see them.
    const tables = await client.query<{ table: string; bytes: string }>(
      // pg_partition_tree returns no rows for a table that is not partitioned.
      `SELECT c.relname AS table,
              CASE WHEN c.relkind = 'p'
                   THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0) FROM pg_partition_tree(c.oid) t)
                   ELSE pg_total_relation_size(c.oid) END::bigint AS bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
        ORDER BY bytes DESC, c.relname`,
    );
    const events = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${layout.eventsTable}`)).rows[0]?.n ?? 0);
    const database = (await client.query<{ name: string; bytes: string }>('SELECT current_database() AS name, pg_database_size(current_database()) AS bytes'))
      .rows[0];
    const sizes: TableSize[] = tables.rows.map((row) => ({
      table: row.table,
      bytes: Number(row.bytes),
      part: layout.logTables.includes(row.table) ? 'log' : 'read models',
    }));
    const bytesOf = (part: TableSize['part']) => sizes.filter((t) => t.part === part).reduce((total, t) => total + t.bytes, 0);
    const perMillion = (bytes: number) => (events === 0 ? Number.NaN : (bytes / MIB / events) * 1e6);
    return {
      store,
      database: database?.name ?? 'unknown',
      events,
      tables: sizes,
      logMiB: bytesOf('log') / MIB,
      readModelMiB: bytesOf('read models') / MIB,
      databaseMiB: Number(database?.bytes ?? 0) / MIB,
      logMiBPerMillionEvents: perMillion(bytesOf('log')),
      readModelMiBPerMillionEvents: perMillion(bytesOf('read models')),
      logBytesPerEvent: events === 0 ? Number.NaN : bytesOf('log') / events,
    };
  });
}
