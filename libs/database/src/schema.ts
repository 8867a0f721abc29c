import type { ColumnType, Generated, Selectable } from 'kysely';

/** Kysely's view of the tables the migrations create. Keep in step with migrations/. */
export interface EventStreamsTable {
  tenant_id: string;
  session_id: string;
  last_sequence: number;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** `events` (migrations/0001). The event row codec, libs/event-store/src/event-row.ts, must name exactly these columns. */
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
  /** When it stops being visible (recorded_at + its TTL); the reaper deletes it after. */
  expires_at: Date;
  /** Bytes of `data` as JSON text, for the read pages' byte budget; null for rows appended before migration 0260. */
  data_bytes: number | null;
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
  /** When the session stops being visible: SESSIONS_VISIBILITY_TTL_SECONDS after its last event, never before one of its events. */
  expires_at: Generated<Date>;
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
  last_sequence: number;
  phase_sequence: number;
}

export interface TracesTable {
  tenant_id: string;
  trace_id: string;
  first_position: number;
}

export interface DeletionsTable {
  tenant_id: string;
  scope: string;
  query_id: string | null;
  up_to_position: number;
}

/** `queries` (migrations/0009): one row per query, merged from every event that names it. */
export interface QueriesTable {
  tenant_id: string;
  query_key: string;
  query_id: string | null;
  query_name: string | null;
  /** The trace its spans share (migrations/0122). */
  trace_id: string | null;
  session_id: string;
  session_rank: number;
  namespace: string | null;
  user_id: string | null;
  target_type: string | null;
  target_name: string | null;
  agent: string | null;
  input: unknown;
  response: unknown;
  phase: Generated<'pending' | 'running' | 'done' | 'error' | 'canceled' | 'unknown'>;
  error: unknown;
  error_at: Date | null;
  done_at: Generated<Date[]>;
  canceled_at: Date | null;
  started_at: Date;
  completed_at: Date | null;
  last_event_at: Date;
  duration_ms: number | null;
  tokens_input: number | null;
  tokens_output: number | null;
  tokens_total: number | null;
  event_count: number;
  first_position: number;
  /** Totals of the query's calls (migrations/0100). */
  llm_tokens_input: number | null;
  llm_tokens_output: number | null;
  llm_tokens_total: number | null;
  models: Generated<string[]>;
  tools: Generated<string[]>;
}

/** `tool_calls` (migrations/0009): one row per tool call, operation event and span merged. */
export interface ToolCallsTable {
  tenant_id: string;
  call_key: string;
  query_key: string;
  query_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
  tool_name: string | null;
  tool_type: string | null;
  tool_id: string | null;
  parameters: unknown;
  result: unknown;
  error: unknown;
  status: 'started' | 'completed' | 'failed';
  mcp_session_id: string | null;
  started_at: Date | null;
  ended_at: Date | null;
  duration_ms: number | null;
  event_count: number;
  first_position: number;
}

/** `llm_calls` (migrations/0009): one row per LLM call span. */
export interface LlmCallsTable {
  tenant_id: string;
  call_key: string;
  query_key: string;
  query_id: string | null;
  query_name: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
  model: string | null;
  model_type: string | null;
  status: 'started' | 'completed' | 'failed';
  error: unknown;
  tokens_input: number | null;
  tokens_output: number | null;
  tokens_total: number | null;
  started_at: Date | null;
  ended_at: Date | null;
  duration_ms: number | null;
  first_chunk_at: Date | null;
  event_count: number;
  first_position: number;
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

/** The operator's mapping of database roles to the tenants they read through the analyst_* views (migrations/0150). */
export interface AnalystTenantsTable {
  role_name: string;
  tenant_id: string;
  granted_at: Generated<Date>;
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
  session_queries: SessionQueriesTable;
  deletions: DeletionsTable;
  traces: TracesTable;
  api_keys: ApiKeysTable;
  analyst_tenants: AnalystTenantsTable;
  queries: QueriesTable;
  tool_calls: ToolCallsTable;
  llm_calls: LlmCallsTable;
  schema_migrations: SchemaMigrationsTable;
}

/** A `sessions` row as read. */
export type SessionRow = Selectable<SessionsTable>;
