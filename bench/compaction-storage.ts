/**
 * Storage per million events before and after compaction (issue #20; docs/architecture.md#compaction).
 *
 *   npm run build && TEST_DATABASE_URL=postgres://… node dist/bench/compaction-storage.js [queries] [response words]
 *
 * Runs a broker in-process on a fresh database of that server, sends it `queries` Ark agent queries
 * as Ark does (support/ark-producer.ts: operation events, the chunk stream of both LLM calls, the
 * memory messages; no spans), then measures the log (`events`, `event_streams`, `llm_completions`:
 * heap, indexes and TOAST, after VACUUM FULL) before compaction, and after every run is folded and
 * the raw chunks are reaped. Per million events = bytes / events stored before compaction × 10⁶: an
 * extrapolation from the scale run, which the report says.
 */
import { ArkQueryProducer, arkQueryPlan } from '../test/support/ark-producer.js';
import { startTestBroker } from '../test/support/test-broker.js';
import { ChunkCompactor, RowReaper } from '#ark/retention';

const queries = Number(process.argv[2] ?? 200);
const words = Number(process.argv[3] ?? 150);
const LOG_TABLES = ['events', 'event_streams', 'llm_completions'];

const broker = await startTestBroker({ CHUNK_COMPACTION_INTERVAL_SECONDS: '0', CHUNK_COMPACTION_DELAY_SECONDS: '0', COMPACTED_CHUNK_TTL_SECONDS: '0' });
try {
  const response = Array.from({ length: words }, (_, i) => `word${i % 97}`).join(' ');
  for (let q = 0; q < queries; q++) {
    const producer = new ArkQueryProducer(broker.url, arkQueryPlan(`bench-${q}`, { response, sessionId: `bench-session-${q % 20}` }));
    await producer.operationEvents((r) => r !== 'QueryExecutionComplete');
    await producer.chunks();
    await producer.messages();
    await producer.operationEvents((r) => r === 'QueryExecutionComplete');
  }
  const measure = async () => {
    for (const t of LOG_TABLES) await broker.sql.query(`VACUUM FULL ${t}`);
    const { rows } = await broker.sql.query<{ table: string; bytes: string }>(
      `SELECT relname AS table, pg_total_relation_size(oid) AS bytes FROM pg_class WHERE relname = ANY($1) AND relkind = 'r'`,
      [LOG_TABLES],
    );
    const counts = await broker.sql.query<{ events: string; chunks: string }>(
      `SELECT count(*) AS events, count(*) FILTER (WHERE type = 'llm.chunk') AS chunks FROM events`,
    );
    return {
      bytes: rows.reduce((sum, r) => sum + Number(r.bytes), 0),
      tables: Object.fromEntries(rows.map((r) => [r.table, Number(r.bytes)])),
      events: Number(counts.rows[0]!.events),
      chunks: Number(counts.rows[0]!.chunks),
    };
  };
  const before = await measure();
  const compacted = await broker.app.get(ChunkCompactor).compactOnce();
  const reaped = await broker.app.get(RowReaper).reapOnce();
  const after = await measure();
  const perMillion = (bytes: number) => ((bytes / before.events) * 1e6) / 1024 ** 2;
  console.log(
    JSON.stringify(
      {
        scale: { queries, responseWords: words, events: before.events, chunkEvents: before.chunks },
        compacted,
        reapedRawChunks: reaped.events,
        before: { bytes: before.bytes, tables: before.tables, bytesPerEvent: Math.round(before.bytes / before.events) },
        after: { bytes: after.bytes, tables: after.tables, eventsLeft: after.events, bytesPerOriginalEvent: Math.round(after.bytes / before.events) },
        mibPerMillionEvents: { before: Math.round(perMillion(before.bytes)), after: Math.round(perMillion(after.bytes)) },
        note: `extrapolated linearly from ${before.events} events to 1,000,000`,
      },
      null,
      2,
    ),
  );
} finally {
  await broker.close();
}
