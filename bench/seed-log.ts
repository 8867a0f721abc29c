import { withClient } from './postgres-server.js';
import { progress } from './runner.js';

/** Events per seeded session (sequences 1..N), about the size of a long agent session. */
const EVENTS_PER_SESSION = 1_000;
/** Rows per INSERT … SELECT: each its own short transaction, so no long transaction holds back the feeds' horizon. */
const ROWS_PER_STATEMENT = 100_000;

/**
 * Grows the broker's event log to at least `total` events by bulk-inserting synthetic ones
 * server-side (`INSERT … SELECT FROM generate_series`, ROWS_PER_STATEMENT per transaction) into
 * `events` and `event_streams`, with the mix of a real log: per session EVENTS_PER_SESSION events,
 * 60 % `llm.chunk` (source chunk, no dedupe key), the rest span and operation-event types with
 * query, trace and span ids and a unique dedupe key, and ~200 bytes of JSON data. It fills the log
 * and its indexes only: the read models keep what the scenarios wrote (the seeded sessions have no
 * rows there). Seeded sessions are named `seed-…` and belong to tenant `default`.
 */
export async function seedLog(databaseUrl: string, total: number): Promise<{ stored: number; seeded: number; seconds: number }> {
  return withClient(databaseUrl, async (client) => {
    const count = async () => Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM events')).rows[0]?.n ?? 0);
    const before = await count();
    const started = performance.now();
    // Session numbers continue after earlier seeding, so sessions never collide.
    let nextSession = Number((await client.query<{ n: string }>("SELECT count(*) AS n FROM event_streams WHERE session_id LIKE 'seed-%'")).rows[0]?.n ?? 0);
    let stored = before;
    while (stored < total) {
      const rows = Math.min(ROWS_PER_STATEMENT, Math.ceil((total - stored) / EVENTS_PER_SESSION) * EVENTS_PER_SESSION);
      const sessions = rows / EVENTS_PER_SESSION;
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO events (tenant_id, session_id, sequence, type, time, query_id, query_name, namespace, trace_id, span_id,
                             parent_span_id, source, dedupe_key, data, expires_at)
         SELECT 'default', s.session_id, e.sequence, k.type, now(), s.session_id || '-q' || (e.sequence / 100), 'seed-query', 'default',
                CASE WHEN k.source = 'otlp' THEN md5(s.session_id || (e.sequence / 100)) END,
                CASE WHEN k.source = 'otlp' THEN substr(md5(s.session_id || e.sequence), 1, 16) END,
                NULL, k.source,
                CASE WHEN k.source <> 'chunk' THEN k.source || ':' || s.session_id || ':' || e.sequence END,
                jsonb_build_object('seed', true, 'sequence', e.sequence, 'text', repeat('lorem ipsum ', 14)), now() + interval '30 days'
           FROM (SELECT 'seed-' || n AS session_id FROM generate_series($1::int, $2::int) n) s
          CROSS JOIN generate_series(1, ${EVENTS_PER_SESSION}) AS e(sequence)
          CROSS JOIN LATERAL (SELECT CASE WHEN e.sequence % 10 < 6 THEN 'llm.chunk'
                                          WHEN e.sequence % 10 < 8 THEN 'llm.call.completed'
                                          ELSE 'tool.call.completed' END AS type,
                                     CASE WHEN e.sequence % 10 < 6 THEN 'chunk'
                                          WHEN e.sequence % 10 < 8 THEN 'otlp'
                                          ELSE 'operation-event' END AS source) k`,
        [nextSession, nextSession + sessions - 1],
      );
      await client.query(
        `INSERT INTO event_streams (tenant_id, session_id, last_sequence)
         SELECT 'default', 'seed-' || n, ${EVENTS_PER_SESSION} FROM generate_series($1::int, $2::int) n`,
        [nextSession, nextSession + sessions - 1],
      );
      await client.query('COMMIT');
      nextSession += sessions;
      stored += rows;
      if ((stored - before) % 1_000_000 < ROWS_PER_STATEMENT)
        progress(`seeded ${(stored - before).toLocaleString('en-US')} events (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
    // Fresh statistics, as autovacuum would have them on a log that grew over time.
    await client.query('ANALYZE events');
    await client.query('ANALYZE event_streams');
    return { stored: await count(), seeded: stored - before, seconds: (performance.now() - started) / 1000 };
  });
}
