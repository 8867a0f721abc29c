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
  /** The latest recorded_at of the batch's events (ms). */
  lastRecorded: number;
  /** The latest expires_at of the batch's events (ms). */
  eventsExpire: number;
}

/**
 * `sessions`: one row per session with its first and last activity (producer time), event count,
 * last sequence and expiry. Every update is commutative (least, greatest, sum), so batch order does
 * not matter.
 *
 * The expiry slides: the tenant's sessions TTL (`tenant_retention`, else `sessionsTtlSeconds`:
 * SESSIONS_VISIBILITY_TTL_SECONDS) after the last event was recorded, and never before one of its
 * events expires, so reaping a whole session never takes a visible event. It reads stored columns and
 * the tenant's setting, so a rebuild computes the same while the setting is unchanged.
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
      if (!d) {
        const first = {
          first: e.time,
          last: e.time,
          count: 1,
          lastSequence: e.sequence,
          lastRecorded: e.recordedAt.getTime(),
          eventsExpire: e.expiresAt.getTime(),
        };
        deltas.set(key, { tenantId: e.tenantId, sessionId: e.sessionId, userId: e.userId, ...first });
        continue;
      }
      d.lastRecorded = Math.max(d.lastRecorded, e.recordedAt.getTime());
      d.eventsExpire = Math.max(d.eventsExpire, e.expiresAt.getTime());
      d.userId ??= e.userId;
      if (e.time < d.first) d.first = e.time;
      if (e.time > d.last) d.last = e.time;
      d.count++;
      d.lastSequence = Math.max(d.lastSequence, e.sequence);
    }
    const rows = [...deltas.values()];
    await sql`${PREPARED}
      INSERT INTO sessions AS s (tenant_id, session_id, user_id, first_activity_at, last_activity_at, event_count, last_sequence, expires_at)
      SELECT d.tenant_id, d.session_id, d.user_id, d.first_at, d.last_at, d.n, d.last_sequence,
             greatest(d.events_expire, d.last_recorded + coalesce(p.sessions_ttl_seconds, ${this.sessionsTtlSeconds}::int) * interval '1 second')
      FROM unnest(${rows.map((r) => r.tenantId)}::text[], ${rows.map((r) => r.sessionId)}::text[],
                  ${rows.map((r) => r.userId)}::text[], ${rows.map((r) => r.first.toISOString())}::timestamptz[],
                  ${rows.map((r) => r.last.toISOString())}::timestamptz[], ${rows.map((r) => r.count)}::bigint[],
                  ${rows.map((r) => r.lastSequence)}::bigint[], ${rows.map((r) => new Date(r.lastRecorded).toISOString())}::timestamptz[],
                  ${rows.map((r) => expiryText(r.eventsExpire))}::timestamptz[])
           AS d(tenant_id, session_id, user_id, first_at, last_at, n, last_sequence, last_recorded, events_expire)
      LEFT JOIN tenant_retention p ON p.tenant_id = d.tenant_id
      ON CONFLICT (tenant_id, session_id) DO UPDATE SET
        user_id           = coalesce(s.user_id, excluded.user_id),
        first_activity_at = least(s.first_activity_at, excluded.first_activity_at),
        last_activity_at  = greatest(s.last_activity_at, excluded.last_activity_at),
        event_count       = s.event_count + excluded.event_count,
        last_sequence     = greatest(s.last_sequence, excluded.last_sequence),
        expires_at        = greatest(s.expires_at, excluded.expires_at)`.execute(trx);
  }
}
