import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { EventLogRepository, FEED_START, type ArkEvent } from '#ark/event-store';
import { DatabaseConnection } from '#ark/database';
import { ChunkCompactionRepository, ChunkCompactor, RowReaper } from '#ark/retention';
import { ArkQueryProducer, arkQueryPlan } from './support/ark-producer.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

// Issue #20, compaction: a finished query's llm.chunk run is folded into one llm_completions row, and
// the completion views answer the same after it (raw chunks still stored but covered, then reaped)
// as before. The query is Ark's (support/ark-producer.ts); its chunks are uploaded one request each,
// a few milliseconds apart, so they have distinct times and transactions, as a live stream has.

/** The `id:` and `data:` lines of an SSE response read to its end. */
async function sseLines(url: string): Promise<string[]> {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  assert.equal(res.status, 200, url);
  return (await res.text()).split('\n').filter((l) => l.startsWith('id: ') || l.startsWith('data: '));
}

/** What a feed reader gets: every field but the expiry (the folded row keeps the latest) and the dedupe key (not kept). */
const comparable = (events: ArkEvent[]) => events.map(({ expiresAt: _e, dedupeKey: _d, ...rest }) => rest);

describe('compaction: a finished run of chunks folded into one llm_completions row', () => {
  let broker: TestBroker;
  let producer: ArkQueryProducer;
  const views = () => {
    const p = producer.plan;
    return {
      fast: `${broker.url}/v2/queries/${p.uid}/completion?replay=fast`,
      realtime: `${broker.url}/v2/queries/${p.uid}/completion?replay=realtime&maxGapMs=20`,
      upstream: `${broker.url}/stream/${p.name}?from-beginning=true`,
    };
  };
  const snapshot = async () => {
    const v = views();
    const log = broker.app.get(EventLogRepository);
    const feed = await log.readFeed({ tenantId: 'default' }, FEED_START, 1000, { queryIds: [producer.plan.uid, producer.plan.name] });
    const query = await getJson(`${broker.url}/v2/queries/${producer.plan.uid}`);
    const aggregate = await getJson(`${broker.url}/v2/sessions/${producer.sessionId}`);
    return {
      fast: await sseLines(v.fast),
      realtime: await sseLines(v.realtime),
      upstream: await sseLines(v.upstream),
      feed: comparable(feed.events),
      chunks: query.body.chunks,
      aggregateChunks: aggregate.body.queries.items.map((q: any) => q.chunks),
      lastCompletion: (await getJson(`${broker.url}/v2/queries/${producer.plan.uid}/resume-context`)).body.lastCompletion,
    };
  };
  const sqlCount = async (text: string) => Number((await broker.sql.query<{ n: string }>(text)).rows[0]!.n);
  let original: Awaited<ReturnType<typeof snapshot>>;

  before(async () => {
    broker = await startTestBroker({ CHUNK_COMPACTION_INTERVAL_SECONDS: '0', CHUNK_COMPACTION_DELAY_SECONDS: '0', COMPACTED_CHUNK_TTL_SECONDS: '3600' });
    producer = new ArkQueryProducer(broker.url, arkQueryPlan('compaction'));
    await producer.operationEvents((r) => r !== 'QueryExecutionComplete');
    for (const line of producer.chunkLines()) {
      const res = await fetch(`${broker.url}/stream/${producer.plan.name}`, { method: 'POST', body: `${JSON.stringify(line)}\n` });
      assert.equal(res.status, 200);
      await sleep(3);
    }
    assert.equal((await postJson(`${broker.url}/stream/${producer.plan.name}/complete`, {})).status, 200);
    await producer.messages();
    await producer.operationEvents((r) => r === 'QueryExecutionComplete');
    original = await snapshot();
  });
  after(() => broker.close());

  it('the views replayed before compaction: every chunk, then [DONE]', () => {
    const chunks = producer.chunkLines().length;
    assert.equal(original.chunks.count, chunks);
    assert.equal(original.upstream.filter((l) => l.startsWith('data: {')).length, chunks);
    assert.equal(original.fast.at(-1), 'data: [DONE]');
    assert.equal(original.feed.filter((e) => e.type === 'llm.chunk').length, chunks);
    assert.equal(original.lastCompletion.text, producer.plan.response);
  });

  it('folds the run into one row and gives its raw chunks the shorter retention', async () => {
    const report = await broker.app.get(ChunkCompactor).compactOnce();
    assert.deepEqual(report, { runs: 1, chunks: producer.chunkLines().length });
    assert.equal(await sqlCount(`SELECT count(*) AS n FROM llm_completions`), 1);
    const row = (await broker.sql.query(`SELECT run, chunk_count, text FROM llm_completions`)).rows[0];
    assert.equal(row.run, producer.plan.uid);
    assert.equal(row.text, producer.plan.response);
    assert.equal(
      await sqlCount(`SELECT count(*) AS n FROM events WHERE type = 'llm.chunk' AND expires_at > now() + interval '3601 seconds'`),
      0,
      'no raw chunk is kept past COMPACTED_CHUNK_TTL_SECONDS',
    );
    assert.deepEqual(await broker.app.get(ChunkCompactor).compactOnce(), { runs: 0, chunks: 0 }, 'a folded chunk is never folded again');
  });

  it('replays the same from the folded row while the raw chunks are still stored', async () => {
    assert.deepEqual(await snapshot(), original);
  });

  it('replays the same once the raw chunks are reaped', async () => {
    await broker.sql.query(`UPDATE events SET expires_at = now() WHERE type = 'llm.chunk'`);
    const reaped = await broker.app.get(RowReaper).reapOnce();
    assert.equal(reaped.events, producer.chunkLines().length);
    assert.equal(await sqlCount(`SELECT count(*) AS n FROM events WHERE type = 'llm.chunk'`), 0);
    assert.deepEqual(await snapshot(), original);
  });

  it('stores a run in a fraction of the space of its raw chunk rows', async () => {
    const { rows } = await broker.sql.query<{ bytes: string }>(`SELECT pg_column_size(c.*) AS bytes FROM llm_completions c`);
    const perChunk = Number(rows[0]!.bytes) / producer.chunkLines().length;
    console.log(`# ${perChunk.toFixed(0)} bytes per folded chunk`);
    assert.ok(perChunk < 200, `${perChunk} bytes per chunk`);
  });

  it('two replicas compacting at once fold each run once', async () => {
    const second = new ArkQueryProducer(broker.url, arkQueryPlan('compaction-2'));
    await second.asArkDelivers();
    const quiet = { info: () => undefined, error: (m: string) => assert.fail(m) };
    const options = { intervalSeconds: 0, delaySeconds: 0, rawTtlSeconds: 3600, batchSize: 100 };
    const replicas = [0, 1].map(() => new ChunkCompactor(new ChunkCompactionRepository(broker.app.get(DatabaseConnection).db), options, quiet));
    const reports = await Promise.all(replicas.map((r) => r.compactOnce()));
    assert.equal(
      reports.reduce((n, r) => n + r.chunks, 0),
      second.chunkLines().length,
    );
    assert.equal(await sqlCount(`SELECT count(*) AS n FROM llm_completions WHERE run = '${second.plan.uid}'`), 1);
  });

  it('a reader who does not own the session sees no folded chunk', async () => {
    const log = broker.app.get(EventLogRepository);
    const feed = await log.readFeed({ tenantId: 'default', ownerId: 'someone-else' }, FEED_START, 1000, { queryIds: [producer.plan.uid, producer.plan.name] });
    assert.deepEqual(
      feed.events.filter((e) => e.type === 'llm.chunk'),
      [],
    );
  });
});
