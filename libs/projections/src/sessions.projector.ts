import { sql, type Transaction } from 'kysely';
import { PREPARED, type Database } from '#ark/database';
import { NEVER_EXPIRES, type ArkEvent, type InlineProjector } from '#ark/event-store';

/** An expiry as timestamptz text; an event that never expires (NEVER_EXPIRES) keeps its session for ever. */
const expiryText = (ms: number) => (ms >= NEVER_EXPIRES.getTime() ? 'infinity' : new Date(ms).toISOString());

interface SessionDelta {
  tenantId: string;
  sessionId: string;
  userId: string | null;
  first: Date;
  last: Date;
  count: number;
  lastSequence: number;
  expiresAt: number;
}

/**
 * `sessions`: one row per session with its first and last activity (producer time), event count,
 * last sequence and expiry. Every update is commutative (least, greatest, sum), so batch order does
 * not matter.
 *
 * The expiry slides: `sessionsTtlSeconds` (SESSIONS_VISIBILITY_TTL_SECONDS) after the last event was
 * recorded, and never before one of its events expires, so reaping a whole session never takes a
 * visible event. It reads only stored columns, so a rebuild computes the same.
 */
export class SessionsProjector implements InlineProjector {
  readonly name = 'sessions';
  readonly tables = ['sessions'];

  constructor(private readonly sessionsTtlSeconds: number) {}

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const deltas = new Map<string, SessionDelta>();
    for (const e of events) {
      const key = `${e.tenantId}\u0000${e.sessionId}`;
      const d = deltas.get(key);
      const expiresAt = Math.max(e.expiresAt.getTime(), e.recordedAt.getTime() + this.sessionsTtlSeconds * 1000);
      if (!d) {
        const first = { first: e.time, last: e.time, count: 1, lastSequence: e.sequence, expiresAt };
        deltas.set(key, { tenantId: e.tenantId, sessionId: e.sessionId, userId: e.userId, ...first });
        continue;
      }
      d.expiresAt = Math.max(d.expiresAt, expiresAt);
      d.userId ??= e.userId;
      if (e.time < d.first) d.first = e.time;
      if (e.time > d.last) d.last = e.time;
      d.count++;
      d.lastSequence = Math.max(d.lastSequence, e.sequence);
    }
    const rows = [...deltas.values()];
    await sql`${PREPARED}
      INSERT INTO sessions AS s (tenant_id, session_id, user_id, first_activity_at, last_activity_at, event_count, last_sequence, expires_at)
      SELECT * FROM unnest(${rows.map((r) => r.tenantId)}::text[], ${rows.map((r) => r.sessionId)}::text[],
                           ${rows.map((r) => r.userId)}::text[], ${rows.map((r) => r.first.toISOString())}::timestamptz[],
                           ${rows.map((r) => r.last.toISOString())}::timestamptz[], ${rows.map((r) => r.count)}::bigint[],
                           ${rows.map((r) => r.lastSequence)}::bigint[], ${rows.map((r) => expiryText(r.expiresAt))}::timestamptz[])
      ON CONFLICT (tenant_id, session_id) DO UPDATE SET
        user_id           = coalesce(s.user_id, excluded.user_id),
        first_activity_at = least(s.first_activity_at, excluded.first_activity_at),
        last_activity_at  = greatest(s.last_activity_at, excluded.last_activity_at),
        event_count       = s.event_count + excluded.event_count,
        last_sequence     = greatest(s.last_sequence, excluded.last_sequence),
        expires_at        = greatest(s.expires_at, excluded.expires_at)`.execute(trx);
  }
}
