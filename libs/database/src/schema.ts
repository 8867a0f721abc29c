import type { ColumnType, Generated, Selectable } from 'kysely';

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
  query_count: Generated<number>;
  status: Generated<'active' | 'idle' | 'error'>;
  error_count: Generated<number>;
  conversation_count: Generated<number>;
  queries_created_at: Date | null;
  queries_active_at: Date | null;
}

export interface SessionQueriesTable {
  tenant_id: string;
  session_id: string;
  query_name: string;
  query_id: string | null;
  namespace: string | null;
  conversation_id: string | null;
  agent: string | null;
  team: string | null;
  tool: string | null;
  target_type: string;
  phase: 'pending' | 'running' | 'done' | 'error' | 'canceled' | 'unknown';
  error: unknown;
  created_at: Date;
  completed_at: Date | null;
  last_activity_at: Date;
  first_sequence: number;
}

export interface SpansTable {
  tenant_id: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  session_id: string;
  ark_session_id: string | null;
  name: string;
  kind: number;
  start_time_unix_nano: string | null;
  end_time_unix_nano: string | null;
  status_code: number;
  status_message: string | null;
  attributes: unknown;
  resource: unknown;
  scope: unknown;
  span_events: unknown;
  links: unknown;
  first_position: number;
}

export interface DeletionsTable {
  tenant_id: string;
  scope: string;
  query_id: string | null;
  up_to_position: number;
}

export interface ApiKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  roles: string[];
  namespaces: string[] | null;
  secret_hash: string;
  created_at: Generated<Date>;
  revoked_at: Date | null;
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
  spans: SpansTable;
  session_queries: SessionQueriesTable;
  deletions: DeletionsTable;
  api_keys: ApiKeysTable;
  schema_migrations: SchemaMigrationsTable;
}

/** A `sessions` row as read. */
export type SessionRow = Selectable<SessionsTable>;
