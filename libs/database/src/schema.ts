import type { ColumnType, Generated } from 'kysely';

/** Kysely's view of the tables the migrations create. Keep in step with migrations/. */
export interface EventStreamsTable {
  tenant_id: string;
  session_id: string;
  last_sequence: number;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface EventsTable {
  tenant_id: string;
  session_id: string;
  sequence: number;
  global_position: Generated<number>;
  /** xid8, exchanged as a decimal string. */
  transaction_id: ColumnType<string, never, never>;
  type: string;
  time: Date;
  recorded_at: Generated<Date>;
  query_id: string | null;
  query_name: string | null;
  namespace: string | null;
  user_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
  source: string;
  dedupe_key: string | null;
  data: unknown;
}

export interface SessionsTable {
  tenant_id: string;
  session_id: string;
  user_id: string | null;
  first_activity_at: Date;
  last_activity_at: Date;
  event_count: number;
  last_sequence: number;
}

export interface SchemaMigrationsTable {
  version: string;
  name: string;
  checksum: string;
  applied_at: Generated<Date>;
}

export interface Database {
  event_streams: EventStreamsTable;
  events: EventsTable;
  sessions: SessionsTable;
  schema_migrations: SchemaMigrationsTable;
}
