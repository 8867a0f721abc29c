/**
 * Upstream ark-broker's rules for a session's queries (docs/upstream-compat.md §6.5), as pure
 * functions so the projector and its table-driven tests share them.
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

/**
 * Applies a signal: error always wins; canceled never overrides error; done clears an earlier error
 * unless the query was canceled; running never reopens a finished query. Descriptive fields are
 * first-write-wins; the target type is replaced only while it is still the default `agent`.
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
    };
  }
  const next: SessionQuery = {
    ...current,
    queryId: current.queryId ?? s.queryId ?? null,
    namespace: current.namespace ?? s.namespace ?? null,
    conversationId: current.conversationId || s.conversationId || null,
    agent: current.agent || s.agent || null,
    team: current.team || s.team || null,
    tool: current.tool || s.tool || null,
    targetType: current.targetType === 'agent' && s.targetType ? s.targetType : current.targetType,
    lastActivityAt: s.at,
  };
  if (phase === 'error') return { ...next, phase, error: s.error ?? null, completedAt: s.at };
  if (phase === 'canceled' && current.phase !== 'error') return { ...next, phase, completedAt: s.at };
  if (phase === 'done' && current.phase !== 'canceled') return { ...next, phase, error: null, completedAt: s.at };
  return next;
}

/** Active while any query runs; else the state of the query touched last (error → error, else idle). */
export function sessionStatus(queries: readonly SessionQuery[]): SessionStatus {
  if (queries.some((q) => !finished(q.phase))) return 'active';
  let latest: SessionQuery | undefined;
  for (const q of queries) {
    if (
      !latest ||
      q.lastActivityAt > latest.lastActivityAt ||
      (q.lastActivityAt.getTime() === latest.lastActivityAt.getTime() && q.firstSequence < latest.firstSequence)
    )
      latest = q;
  }
  return latest?.phase === 'error' ? 'error' : 'idle';
}
