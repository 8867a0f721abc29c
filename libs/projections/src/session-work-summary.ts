import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import type { ArkEvent } from '#ark/event-store';
import { column, workQueryKeyOf } from './work-events.js';

/**
 * The work summary columns of `sessions` (migrations/0100: status, counts, participants, tokens) are
 * recomputed by `ark_summarise_session_work` for every session whose queries a batch touched. A
 * recompute is right only if no other transaction changes those queries between its snapshot and its
 * commit, so each touched session's `sessions` row is locked first:
 *
 * - the batch's own sessions are locked by SessionsProjector's upsert, the first projection write;
 * - a query can be filed under another session (a span's `trace-…` placeholder or the query UID
 *   used as a session rank lower than a real one; migrations/0009): `lockSessionsOfQueries` locks
 *   the sessions the batch's queries are filed under right after, before any query or call row is
 *   locked, so two batches of one query in two sessions queue instead of deadlocking;
 * - a session learnt only from the upsert (a row another transaction inserted or moved meanwhile)
 *   is locked in `summariseSessions`, late; a deadlock that this may cause is detected by
 *   PostgreSQL, and the writer retries the transaction.
 *
 * Every writer of a session's queries thus recomputes it while holding its lock, in a statement that
 * starts after the lock was granted: under READ COMMITTED that statement sees every commit before
 * it, and any writer it does not see recomputes after it.
 */

interface SessionKey {
  tenantId: string;
  sessionId: string;
}

const keyOf = (s: SessionKey) => `${s.tenantId}\u0000${s.sessionId}`;

function distinct(sessions: readonly SessionKey[]): SessionKey[] {
  return [...new Map(sessions.map((s) => [keyOf(s), s])).values()];
}

/** Locks, in key order, the `sessions` rows of the given sessions (FOR UPDATE). */
async function lockSessions(trx: Transaction<Database>, sessions: readonly SessionKey[]): Promise<void> {
  if (sessions.length === 0) return;
  // Not PREPARED: it joins the batch's keys to a table that grows (prepared-statements.ts).
  await sql`
    SELECT 1 FROM sessions s
    JOIN unnest(${column(sessions.map((k) => k.tenantId), 'text')}, ${column(sessions.map((k) => k.sessionId), 'text')}) AS k(t, sid)
      ON s.tenant_id = k.t AND s.session_id = k.sid
    ORDER BY s.tenant_id, s.session_id
    FOR UPDATE OF s`.execute(trx);
}

/** Locks the sessions that the stored queries of the batch's work events are filed under. */
export async function lockSessionsOfQueries(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
  const keys = [...new Map(events.flatMap((e) => {
    const key = workQueryKeyOf(e);
    return key === null ? [] : [[`${e.tenantId}\u0000${key}`, { t: e.tenantId, k: key }] as const];
  })).values()];
  if (keys.length === 0) return;
  // Sessions already locked by this transaction are locked again at no cost. Not PREPARED (as above).
  await sql`
    SELECT 1 FROM sessions s
    JOIN (SELECT DISTINCT q.tenant_id, q.session_id
          FROM unnest(${column(keys.map((k) => k.t), 'text')}, ${column(keys.map((k) => k.k), 'text')}) AS k(t, k)
          JOIN queries q ON q.tenant_id = k.t AND q.query_key = k.k) f
      ON s.tenant_id = f.tenant_id AND s.session_id = f.session_id
    ORDER BY s.tenant_id, s.session_id
    FOR UPDATE OF s`.execute(trx);
}

/**
 * Recomputes the work summary of `touched` (the sessions the batch's queries are filed under now or
 * were moved from), first locking the ones that are not the batch's own.
 */
export async function summariseSessions(trx: Transaction<Database>, events: readonly ArkEvent[], touched: readonly SessionKey[]): Promise<void> {
  const sessions = distinct(touched);
  if (sessions.length === 0) return;
  const own = new Set(events.map(keyOf));
  await lockSessions(trx, sessions.filter((s) => !own.has(keyOf(s))));
  await sql`${PREPARED}SELECT ark_summarise_session_work(${sessions.map((s) => s.tenantId)}::text[], ${sessions.map((s) => s.sessionId)}::text[])`.execute(trx);
}
