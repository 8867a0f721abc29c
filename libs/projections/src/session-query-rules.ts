/**
 * Upstream ark-broker's rules for a session's queries (docs/upstream-compat.md §6.5, as of 0.1.69),
 * as pure functions so the projector and its table-driven tests share them.
 */
export type QueryPhase = 'pending' | 'running' | 'done' | 'error' | 'canceled' | 'unknown';
export type SessionStatus = 'active' | 'idle' | 'error';

export interface SessionQuery {
  queryName: string;
  queryId: string | null;
  namespace: string | null;
  conversationId: string | null;
  agent: string | null;
  team: string | null;
  tool: string | null;
  targetType: string;
  phase: QueryPhase;
  error: unknown;
  createdAt: Date;
  completedAt: Date | null;
  lastActivityAt: Date;
  firstSequence: number;
  /** Sequence of the last event that counted as the query's activity: elects the session status. */
  lastSequence: number;
  /** Sequence of the last terminal event that decided the phase. */
  phaseSequence: number;
}

/** What one operation event (or `POST /sessions` body) says about a query. */
export interface QuerySignal {
  reason: string;
  queryName: string;
  queryId?: string | null;
  namespace?: string | null;
  conversationId?: string | null;
  agent?: string | null;
  team?: string | null;
  tool?: string | null;
  targetType?: string | null;
  error?: unknown;
  at: Date;
  sequence: number;
}

export function phaseOfReason(reason: string, error: unknown): QueryPhase {
  if (reason === 'QueryExecutionComplete') return error ? 'error' : 'done';
  if (reason.includes('Canceled')) return 'canceled';
  if (reason.includes('Error')) return 'error';
  return 'running';
}

const finished = (phase: QueryPhase) => phase !== 'running' && phase !== 'pending';

/** The phase rules: error always wins; canceled never overrides error; done clears an earlier error unless canceled; running changes nothing. */
function withPhase(q: SessionQuery, phase: QueryPhase, s: QuerySignal): SessionQuery {
  if (!finished(phase)) return q;
  const decided = { ...q, phaseSequence: Math.max(q.phaseSequence, s.sequence) };
  if (phase === 'error') return { ...decided, phase, error: s.error ?? null, completedAt: s.at };
  if (phase === 'canceled' && q.phase !== 'error') return { ...decided, phase, completedAt: s.at };
  if (phase === 'done' && q.phase !== 'canceled') return { ...decided, phase, error: null, completedAt: s.at };
  return decided;
}

/** Descriptive fields are first-write-wins (so order does not matter); the target type is replaced only while it is still the default `agent`. */
function withFields(current: SessionQuery, s: QuerySignal): SessionQuery {
  return {
    ...current,
    queryId: current.queryId ?? s.queryId ?? null,
    namespace: current.namespace ?? s.namespace ?? null,
    conversationId: current.conversationId || s.conversationId || null,
    agent: current.agent || s.agent || null,
    team: current.team || s.team || null,
    tool: current.tool || s.tool || null,
    targetType: current.targetType === 'agent' && s.targetType ? s.targetType : current.targetType,
  };
}

/**
 * Applies the next signal of a query, in order: its fields, its phase rule (error always wins;
 * canceled never overrides error; done clears an earlier error unless the query was canceled;
 * running never reopens a finished query), and it becomes the query's last activity.
 */
export function applyQuerySignal(current: SessionQuery | undefined, s: QuerySignal): SessionQuery {
  const phase = phaseOfReason(s.reason, s.error);
  if (!current) {
    return {
      queryName: s.queryName,
      queryId: s.queryId ?? null,
      namespace: s.namespace ?? null,
      conversationId: s.conversationId ?? null,
      agent: s.agent ?? null,
      team: s.team ?? null,
      tool: s.tool ?? null,
      targetType: s.targetType || 'agent',
      phase,
      error: s.error ?? null,
      createdAt: s.at,
      completedAt: finished(phase) ? s.at : null,
      lastActivityAt: s.at,
      firstSequence: s.sequence,
      lastSequence: s.sequence,
      phaseSequence: finished(phase) ? s.sequence : 0,
    };
  }
  return withPhase({ ...withFields(current, s), lastActivityAt: s.at, lastSequence: s.sequence }, phase, s);
}

/**
 * An operation event or `POST /sessions` body of a session's query, under upstream 0.1.69's
 * per-query watermarks (ark PRs #3004, #3209). An event newer than the query's last activity is
 * applied in order (`applyQuerySignal`) and becomes its activity, which elects the session status;
 * its time never moves the activity back (append times can run a little behind sequences: a
 * transaction's clock starts before it waits for the session's lock). An older one, a replay or one
 * applied out of order, only fills empty fields: it changes no activity and no election, and only a
 * terminal one newer than the last terminal decision may still decide the phase. A late
 * non-terminal event therefore never undoes done, error or canceled.
 */
export function applySessionQueryEvent(current: SessionQuery | undefined, s: QuerySignal): SessionQuery {
  if (!current) return applyQuerySignal(undefined, s);
  if (s.sequence > current.lastSequence) {
    const next = applyQuerySignal(current, s);
    return s.at < current.lastActivityAt ? { ...next, lastActivityAt: current.lastActivityAt } : next;
  }
  const merged = withFields(current, s);
  const phase = phaseOfReason(s.reason, s.error);
  return finished(phase) && s.sequence > current.phaseSequence ? withPhase(merged, phase, s) : merged;
}

/**
 * A message of the query (upstream's `applyMessage`): it may attach the query to its conversation,
 * but it is not the query's activity, so it elects nothing (upstream 0.1.69, #3004). The session's
 * own last activity still moves (the projector records that on the session).
 */
export function applyQueryMessage(current: SessionQuery, conversationId: string | null): SessionQuery {
  return current.conversationId || !conversationId ? current : { ...current, conversationId };
}

/** Active while any query runs; else the state of the query whose activity came last (error → error, else idle). */
export function sessionStatus(queries: readonly SessionQuery[]): SessionStatus {
  if (queries.some((q) => !finished(q.phase))) return 'active';
  let latest: SessionQuery | undefined;
  for (const q of queries) if (!latest || q.lastSequence > latest.lastSequence) latest = q;
  return latest?.phase === 'error' ? 'error' : 'idle';
}
