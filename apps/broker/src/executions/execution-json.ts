import type { ExecutionRow, ExecutorRow, HistoryRow } from './execution.repository.js';

/** A query of the queue as every `/v2` execution route answers it (docs/executors.md#the-query-object). */
export interface QueryExecutionJson {
  queryId: string;
  name: string;
  namespace: string;
  sessionId: string;
  target: unknown;
  input: unknown;
  phase: ExecutionRow['phase'];
  reason: string | null;
  reassign: ExecutionRow['reassign'];
  maxAttempts: number;
  attempt: number;
  assignedExecutor: string | null;
  assignedAt: string | null;
  leaseExpiresAt: string | null;
  cancelRequested: boolean;
  ttlExpiresAt: string | null;
  response: unknown;
  error: unknown;
  submittedAt: string;
  updatedAt: string;
  finishedAt: string | null;
}

export interface HistoryEntryJson {
  type: string;
  attempt: number;
  at: string;
  data: unknown;
}

export interface ExecutorJson {
  executorId: string;
  namespaces: string[] | null;
  lastSeenAt: string;
  activeQueries: number;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function executionJson(r: ExecutionRow): QueryExecutionJson {
  return {
    queryId: r.query_id,
    name: r.name,
    namespace: r.namespace,
    sessionId: r.session_id,
    target: r.target,
    input: r.input,
    phase: r.phase,
    reason: r.reason,
    reassign: r.reassign,
    maxAttempts: r.max_attempts,
    attempt: r.attempt,
    assignedExecutor: r.assigned_executor,
    assignedAt: iso(r.assigned_at),
    leaseExpiresAt: iso(r.lease_expires_at),
    cancelRequested: r.cancel_requested,
    ttlExpiresAt: iso(r.ttl_expires_at),
    response: r.response,
    error: r.error,
    submittedAt: r.submitted_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
    finishedAt: iso(r.finished_at),
  };
}

export const historyEntryJson = (h: HistoryRow): HistoryEntryJson => ({ type: h.type, attempt: h.attempt, at: h.at.toISOString(), data: h.data });

export const executorJson = (x: ExecutorRow): ExecutorJson => ({
  executorId: x.executor_id,
  namespaces: x.namespaces,
  lastSeenAt: x.last_seen_at.toISOString(),
  activeQueries: Number(x.active),
});
