import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import type { ArkEvent, InlineProjector } from '#ark/event-store';

interface SessionDelta {
  tenantId: string;
  sessionId: string;
  userId: string | null;
  first: Date;
  last: Date;
  count: number;
  lastSequence: number;
}

/**
 * `sessions`: one row per session with its first and last activity (producer time), event count and
 * last sequence. Every update is commutative (least, greatest, sum), so batch order does not matter.
 */
export class SessionsProjector implements InlineProjector {
  readonly name = 'sessions';
  readonly tables = ['sessions'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const deltas = new Map<string, SessionDelta>();
    for (const e of events) {
      const key = `${e.tenantId}\u0000${e.sessionId}`;
      const d = deltas.get(key);
      if (!d) {
        deltas.set(key, { tenantId: e.tenantId, sessionId: e.sessionId, userId: e.userId, first: e.time, last: e.time, count: 1, lastSequence: e.sequence });
        continue;
      }
      d.userId ??= e.userId;
      if (e.time < d.first) d.first = e.time;
      if (e.time > d.last) d.last = e.time;
      d.count++;
      d.lastSequence = Math.max(d.lastSequence, e.sequence);
    }
    const rows = [...deltas.values()];
    await sql`${PREPARED}
      INSERT INTO sessions AS s (tenant_id, session_id, user_id, first_activity_at, last_activity_at, event_count, last_sequence)
      SELECT * FROM unnest(${rows.map((r) => r.tenantId)}::text[], ${rows.map((r) => r.sessionId)}::text[],
                           ${rows.map((r) => r.userId)}::text[], ${rows.map((r) => r.first.toISOString())}::timestamptz[],
                           ${rows.map((r) => r.last.toISOString())}::timestamptz[], ${rows.map((r) => r.count)}::bigint[],
                           ${rows.map((r) => r.lastSequence)}::bigint[])
      ON CONFLICT (tenant_id, session_id) DO UPDATE SET
        user_id           = coalesce(s.user_id, excluded.user_id),
        first_activity_at = least(s.first_activity_at, excluded.first_activity_at),
        last_activity_at  = greatest(s.last_activity_at, excluded.last_activity_at),
        event_count       = s.event_count + excluded.event_count,
        last_sequence     = greatest(s.last_sequence, excluded.last_sequence)`.execute(trx);
  }
}
