import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Database, SessionQueriesTable } from '#ark/database';
import { MESSAGE_ADDED, SESSION_SIGNALLED, type ArkEvent, type InlineProjector } from '#ark/event-store';
import { readRecordsDeleted } from '#ark/normalizer';
import { applyQueryMessage, applySessionQueryEvent, type QuerySignal, type SessionQuery } from './session-query-rules.js';

/** Type of the event `POST /sessions` appends: its data is the posted body. */

type Input =
  | { kind: 'signal'; event: ArkEvent; signal: QuerySignal }
  | { kind: 'message'; event: ArkEvent; queryName: string; conversationId: string | null }
  | { kind: 'delete'; event: ArkEvent; queryId: string | null };

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const key = (tenantId: string, sessionId: string, queryName: string) => `${tenantId}\u0000${sessionId}\u0000${queryName}`;

/** The query signal an event carries, as upstream reads operation events and `POST /sessions` bodies. */
function inputOf(event: ArkEvent): Input | undefined {
  const deleted = readRecordsDeleted(event);
  if (deleted?.collection === 'sessions') return { kind: 'delete', event, queryId: deleted.queryId ?? null };
  let reason: unknown;
  let d: Record<string, unknown>;
  if (event.source === 'operation-event') {
    const body = (event.data as { operationEvent?: { reason?: unknown; data?: Record<string, unknown> } }).operationEvent;
    reason = body?.reason;
    d = body?.data ?? {};
  } else if (event.type === SESSION_SIGNALLED) {
    d = event.data as Record<string, unknown>;
    reason = d._reason;
  } else if (event.type === MESSAGE_ADDED) {
    const m = event.data as { queryId?: unknown; conversationId?: unknown };
    const queryName = text(m.queryId);
    return queryName ? { kind: 'message', event, queryName, conversationId: text(m.conversationId) } : undefined;
  } else {
    return undefined;
  }
  const queryName = text(d.queryName);
  if (!text(d.sessionId) || !queryName) return undefined; // upstream drops these silently
  return {
    kind: 'signal',
    event,
    signal: {
      reason: typeof reason === 'string' ? reason : '',
      queryName,
      queryId: text(d.queryId),
      namespace: text(d.queryNamespace),
      conversationId: text(d.conversationId),
      agent: text(d.agent),
      team: text(d.team),
      tool: text(d.tool) ?? text(d.toolName),
      targetType: text(d.targetType),
      error: d.error ?? null,
      at: event.recordedAt,
      sequence: event.sequence,
    },
  };
}

function fromRow(r: SessionQueriesTable): SessionQuery {
  return {
    queryName: r.query_name,
    queryId: r.query_id,
    namespace: r.namespace,
    conversationId: r.conversation_id,
    agent: r.agent,
    team: r.team,
    tool: r.tool,
    targetType: r.target_type,
    phase: r.phase,
    error: r.error,
    createdAt: r.created_at,
    completedAt: r.completed_at,
    lastActivityAt: r.last_activity_at,
    firstSequence: r.first_sequence,
    lastSequence: r.last_sequence,
    phaseSequence: r.phase_sequence,
  };
}

/**
 * The UPDATE of the summary columns of the sessions in `touched` (tenant_id, session_id, active_at)
 * from their queries in `queries` (session_queries' columns), with upstream's status rules: active
 * while a query runs, else the phase of the query whose activity came last (`last_sequence`). The
 * session's last activity moves forward to `active_at` (the batch's latest event or message of the
 * session; null: stays, as a deletion is no activity) and is cleared when no query is left.
 */
function summaryUpdate(touched: RawBuilder<unknown>, queries: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    UPDATE sessions s SET
      query_count = coalesce(a.n, 0), error_count = coalesce(a.errors, 0), conversation_count = coalesce(a.conversations, 0),
      status = coalesce(a.status, 'idle'), queries_created_at = a.created,
      queries_active_at = CASE WHEN a.n > 0 THEN greatest(s.queries_active_at, a.active, k.active_at) END
    FROM ${touched} k
    LEFT JOIN LATERAL (
      SELECT count(*)::int AS n,
             count(*) FILTER (WHERE phase = 'error')::int AS errors,
             count(DISTINCT conversation_id)::int AS conversations,
             CASE WHEN bool_or(phase IN ('running', 'pending')) THEN 'active'
                  WHEN (array_agg(phase ORDER BY last_sequence DESC))[1] = 'error' THEN 'error'
                  ELSE 'idle' END AS status,
             min(created_at) AS created, max(last_activity_at) AS active
      FROM ${queries} q WHERE q.tenant_id = k.tenant_id AND q.session_id = k.session_id
    ) a ON true
    WHERE s.tenant_id = k.tenant_id AND s.session_id = k.session_id`;
}

/**
 * `session_queries` and the query summary columns of `sessions`: upstream's session entries, built
 * from operation events, `POST /sessions` bodies and messages with upstream's rules, in sequence
 * order (appends to one session are serialised, so no other writer touches these rows meanwhile).
 */
export class SessionQueriesProjector implements InlineProjector {
  readonly name = 'session-queries';
  readonly tables = ['session_queries', 'sessions'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const inputs = events.map(inputOf).filter((i): i is Input => i !== undefined);
    // A deletion splits the batch: what comes before it is written first, then deleted.
    let start = 0;
    for (let i = 0; i <= inputs.length; i++) {
      const input = inputs[i];
      if (i < inputs.length && input!.kind !== 'delete') continue;
      await this.apply(trx, inputs.slice(start, i));
      if (input?.kind === 'delete') await this.delete(trx, input.event.tenantId, input.queryId);
      start = i + 1;
    }
  }

  private async apply(trx: Transaction<Database>, inputs: readonly Input[]): Promise<void> {
    if (inputs.length === 0) return;
    const wanted = inputs.map((i) => ({
      t: i.event.tenantId,
      s: i.event.sessionId,
      q: i.kind === 'signal' ? i.signal.queryName : i.kind === 'message' ? i.queryName : '',
    }));
    // The statements of this projector join the batch's keys to tables: none is PREPARED (prepared-statements.ts).
    const { rows } = await sql<SessionQueriesTable>`
      SELECT q.* FROM session_queries q
      JOIN unnest(${wanted.map((w) => w.t)}::text[], ${wanted.map((w) => w.s)}::text[], ${wanted.map((w) => w.q)}::text[]) AS k(t, s, q)
        ON q.tenant_id = k.t AND q.session_id = k.s AND q.query_name = k.q`.execute(trx);
    const state = new Map(rows.map((r) => [key(r.tenant_id, r.session_id, r.query_name), fromRow(r)]));
    const changed = new Map<string, { tenantId: string; sessionId: string; query: SessionQuery }>();
    // The session's last activity: every applied event, and every message of one of its queries.
    const activeAt = new Map<string, Date>();
    for (const input of inputs) {
      const { tenantId, sessionId } = input.event;
      if (input.kind === 'signal') {
        const k = key(tenantId, sessionId, input.signal.queryName);
        const next = applySessionQueryEvent(state.get(k), input.signal);
        state.set(k, next);
        changed.set(k, { tenantId, sessionId, query: next });
      } else if (input.kind === 'message') {
        // As upstream's applyMessage: only a query the session already has, found by name.
        const k = key(tenantId, sessionId, input.queryName);
        const current = state.get(k);
        if (!current) continue;
        const next = applyQueryMessage(current, input.conversationId);
        state.set(k, next);
        changed.set(k, { tenantId, sessionId, query: next });
      } else {
        continue;
      }
      const session = key(tenantId, sessionId, '');
      const before = activeAt.get(session);
      if (!before || before < input.event.recordedAt) activeAt.set(session, input.event.recordedAt);
    }
    if (changed.size === 0) return;
    const list = [...changed.values()];
    const col = <T>(pick: (c: { tenantId: string; sessionId: string; query: SessionQuery }) => T) => list.map(pick);
    const sessions = [...new Map(list.map((c) => [key(c.tenantId, c.sessionId, ''), c])).entries()];
    // One statement writes the queries and recomputes their sessions' summaries. Its snapshot does
    // not see its own upsert, so the summary reads the upserted rows from RETURNING and the session's
    // other queries from the table (appends to a session are serialised: nothing else changes them).
    await sql`
      WITH upserted AS (
        INSERT INTO session_queries AS q (tenant_id, session_id, query_name, query_id, namespace, conversation_id, agent, team, tool,
                                          target_type, phase, error, created_at, completed_at, last_activity_at, first_sequence,
                                          last_sequence, phase_sequence)
        SELECT * FROM unnest(
          ${col((c) => c.tenantId)}::text[], ${col((c) => c.sessionId)}::text[], ${col((c) => c.query.queryName)}::text[],
          ${col((c) => c.query.queryId)}::text[], ${col((c) => c.query.namespace)}::text[], ${col((c) => c.query.conversationId)}::text[],
          ${col((c) => c.query.agent)}::text[], ${col((c) => c.query.team)}::text[], ${col((c) => c.query.tool)}::text[],
          ${col((c) => c.query.targetType)}::text[], ${col((c) => c.query.phase)}::text[],
          ${col((c) => (c.query.error === null || c.query.error === undefined ? null : JSON.stringify(c.query.error)))}::jsonb[],
          ${col((c) => c.query.createdAt.toISOString())}::timestamptz[], ${col((c) => c.query.completedAt?.toISOString() ?? null)}::timestamptz[],
          ${col((c) => c.query.lastActivityAt.toISOString())}::timestamptz[], ${col((c) => c.query.firstSequence)}::bigint[],
          ${col((c) => c.query.lastSequence)}::bigint[], ${col((c) => c.query.phaseSequence)}::bigint[])
        ON CONFLICT (tenant_id, session_id, query_name) DO UPDATE SET
          query_id = excluded.query_id, namespace = excluded.namespace, conversation_id = excluded.conversation_id,
          agent = excluded.agent, team = excluded.team, tool = excluded.tool, target_type = excluded.target_type,
          phase = excluded.phase, error = excluded.error, completed_at = excluded.completed_at,
          last_activity_at = excluded.last_activity_at, last_sequence = excluded.last_sequence, phase_sequence = excluded.phase_sequence
        RETURNING q.tenant_id, q.session_id, q.query_name, q.phase, q.conversation_id, q.created_at, q.last_activity_at, q.last_sequence
      ), touched AS (
        SELECT * FROM unnest(
          ${sessions.map(([, c]) => c.tenantId)}::text[], ${sessions.map(([, c]) => c.sessionId)}::text[],
          ${sessions.map(([k]) => activeAt.get(k)!.toISOString())}::timestamptz[]) AS t(tenant_id, session_id, active_at)
      ), current_queries AS (
        SELECT * FROM upserted
        UNION ALL
        SELECT sq.tenant_id, sq.session_id, sq.query_name, sq.phase, sq.conversation_id, sq.created_at, sq.last_activity_at, sq.last_sequence
        FROM session_queries sq JOIN touched k ON sq.tenant_id = k.tenant_id AND sq.session_id = k.session_id
        WHERE NOT EXISTS (SELECT 1 FROM upserted u
                          WHERE u.tenant_id = sq.tenant_id AND u.session_id = sq.session_id AND u.query_name = sq.query_name)
      )
      ${summaryUpdate(sql`touched`, sql`current_queries`)}`.execute(trx);
  }

  /** Recomputes the summary columns of these sessions from their queries (status as upstream). */
  private async summarise(trx: Transaction<Database>, tenants: string[], sessions: string[]): Promise<void> {
    await sql`
      WITH touched AS (SELECT *, NULL::timestamptz AS active_at FROM unnest(${tenants}::text[], ${sessions}::text[]) AS k(tenant_id, session_id))
      ${summaryUpdate(sql`touched`, sql`session_queries`)}`.execute(trx);
  }

  /** `DELETE /sessions` (all of the tenant's) or `DELETE /sessions/queries/:id` (one query everywhere). */
  private async delete(trx: Transaction<Database>, tenantId: string, queryId: string | null): Promise<void> {
    const scope = queryId === null ? sql`` : sql`AND (query_name = ${queryId} OR query_id = ${queryId})`;
    const { rows } = await sql<{ session_id: string }>`
      DELETE FROM session_queries WHERE tenant_id = ${tenantId} ${scope} RETURNING session_id`.execute(trx);
    const sessions = [...new Set(rows.map((r) => r.session_id))];
    if (sessions.length > 0)
      await this.summarise(
        trx,
        sessions.map(() => tenantId),
        sessions,
      );
  }
}
