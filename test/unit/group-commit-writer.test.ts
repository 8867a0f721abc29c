/**
 * The group-commit writer over a real PostgreSQL (no broker, no HTTP): batching of concurrent
 * appends, per-session sequences, a call refused for its own data, the queue bound, dedupe, drain.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { UnstorableEventsError, WriteQueueFullError, type CommittedBatch, type StreamEvent } from '#ark/event-store';
import { openEventStoreDatabase, type EventStoreDatabase } from '../support/event-store-database.js';

function item(sessionId: string, data: unknown = {}, extra: Partial<StreamEvent['event']> = {}, tenantId = 'tenant-a'): StreamEvent {
  return { tenantId, sessionId, event: { type: 'custom.unit', source: 'api', data, ...extra } };
}

describe('group-commit writer', () => {
  let store: EventStoreDatabase;
  before(async () => {
    store = await openEventStoreDatabase();
  });
  after(() => store.close());

  const sequencesOf = async (tenantId: string, sessionId: string) =>
    (
      await store.sql.query<{ sequence: number }>('SELECT sequence FROM events WHERE tenant_id = $1 AND session_id = $2 ORDER BY sequence', [
        tenantId,
        sessionId,
      ])
    ).rows.map((r) => r.sequence);

  it('commits appends made together in one transaction, and answers each call with its own results', async () => {
    const writer = store.newWriter();
    const batches: CommittedBatch[] = [];
    writer.onBatchCommitted((b) => batches.push(b));
    const calls = [
      [item('together-1'), item('together-1')],
      [item('together-2')],
      [item('together-1'), item('together-2', {}, {}, 'tenant-b')],
      [item('together-3')],
    ];
    const results = await Promise.all(calls.map((c) => writer.append(c)));

    assert.deepEqual(
      batches.map((b) => [b.requests, b.events]),
      [[4, 6]],
    );
    assert.ok(batches[0]!.seconds > 0);
    assert.deepEqual(results, [
      [
        { sessionId: 'together-1', sequence: 1, duplicate: false },
        { sessionId: 'together-1', sequence: 2, duplicate: false },
      ],
      [{ sessionId: 'together-2', sequence: 1, duplicate: false }],
      [
        { sessionId: 'together-1', sequence: 3, duplicate: false },
        { sessionId: 'together-2', sequence: 1, duplicate: false },
      ],
      [{ sessionId: 'together-3', sequence: 1, duplicate: false }],
    ]);
    const { rows } = await store.sql.query<{ transactions: number; tenants: number }>(
      "SELECT count(DISTINCT transaction_id)::int AS transactions, count(DISTINCT tenant_id)::int AS tenants FROM events WHERE session_id LIKE 'together-%'",
    );
    assert.deepEqual(rows[0], { transactions: 1, tenants: 2 });
  });

  it('answers an empty call at once, without a transaction', async () => {
    const writer = store.newWriter();
    let batches = 0;
    writer.onBatchCommitted(() => batches++);
    assert.deepEqual(await writer.append([]), []);
    assert.equal(batches, 0);
  });

  it('closes a batch at maxBatchEvents but never splits a call', async () => {
    const writer = store.newWriter({ maxBatchEvents: 4 });
    const batches: CommittedBatch[] = [];
    writer.onBatchCommitted((b) => batches.push(b));
    const sizes = [1, 2, 1, 5, 2];
    await Promise.all(sizes.map((n, c) => writer.append(Array.from({ length: n }, (_, i) => item('split', { c, i })))));
    assert.deepEqual(
      batches.map((b) => [b.requests, b.events]),
      [
        [3, 4],
        [1, 5],
        [1, 2],
      ],
    );
    assert.deepEqual(
      await sequencesOf('tenant-a', 'split'),
      Array.from({ length: 11 }, (_, i) => i + 1),
    );
  });

  it('gives one session the sequences 1..n exactly under concurrent appends from two writers, each call in order', async () => {
    const writers = [store.newWriter({ maxInFlight: 4, maxBatchEvents: 7 }), store.newWriter({ maxInFlight: 2, maxBatchEvents: 5 })];
    const batches: CommittedBatch[] = [];
    for (const w of writers) w.onBatchCommitted((b) => batches.push(b));
    const pending: Promise<{ call: number; sequences: number[] }>[] = [];
    for (let call = 0; call < 60; call++) {
      const size = 1 + (call % 3);
      const events = Array.from({ length: size }, (_, i) => item('contended', { call, i }));
      events.push(item(`own-${call}`, { call })); // a second session in the same call
      pending.push(
        writers[call % 2]!.append(events).then((results) => ({
          call,
          sequences: results.filter((r) => r.sessionId === 'contended').map((r) => r.sequence),
        })),
      );
      if (call % 7 === 6) await nextTurn(); // let batches start while later calls queue
    }
    const answered = await Promise.all(pending);
    const total = answered.reduce((n, a) => n + a.sequences.length, 0);

    assert.ok(batches.length > 2, `several transactions (${batches.length})`);
    assert.deepEqual(
      answered.flatMap((a) => a.sequences).sort((a, b) => a - b),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    for (const { sequences } of answered) {
      assert.deepEqual(
        sequences,
        sequences.map((_, i) => sequences[0]! + i),
        'a call gets consecutive sequences',
      );
    }
    assert.deepEqual(
      await sequencesOf('tenant-a', 'contended'),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    const { rows } = await store.sql.query<{ event_count: number; last_sequence: number }>(
      "SELECT event_count, last_sequence FROM sessions WHERE tenant_id = 'tenant-a' AND session_id = 'contended'",
    );
    assert.deepEqual(rows[0], { event_count: total, last_sequence: total });
  });

  it('rejects a call that fails on its own data (\\u0000 in jsonb) alone, while its batch-mates commit', async () => {
    const writer = store.newWriter();
    const [before, culprit, afterIt] = await Promise.allSettled([
      writer.append([item('unstorable', { n: 1 })]),
      writer.append([item('unstorable', { n: 2 }), item('unstorable-other', { text: 'nul \u0000 here' })]),
      writer.append([item('unstorable', { n: 3 })]),
    ]);
    assert.equal(before.status, 'fulfilled');
    assert.equal(afterIt.status, 'fulfilled');
    assert.equal(culprit.status, 'rejected');
    assert.ok(culprit.reason instanceof UnstorableEventsError, String(culprit.reason));
    assert.match(culprit.reason.message, /cannot be stored/);

    // The culprit's other event is not stored either (a call is atomic), and no sequence is lost.
    const { rows } = await store.sql.query<{ session_id: string; sequence: number; n: number }>(
      "SELECT session_id, sequence, (data->>'n')::int AS n FROM events WHERE session_id LIKE 'unstorable%' ORDER BY session_id, sequence",
    );
    assert.deepEqual(
      rows.map((r) => [r.session_id, r.sequence]),
      [
        ['unstorable', 1],
        ['unstorable', 2],
      ],
    );
    assert.deepEqual(rows.map((r) => r.n).sort(), [1, 3]);

    // Alone, it is refused the same way.
    await assert.rejects(writer.append([item('unstorable', { text: '\u0000' })]), UnstorableEventsError);
    assert.deepEqual(await sequencesOf('tenant-a', 'unstorable'), [1, 2]);
  });

  it('fails fast with WriteQueueFullError past maxQueuedEvents, and takes a large call into an empty queue', async () => {
    const writer = store.newWriter({ maxQueuedEvents: 5 });
    const first = writer.append([item('queue'), item('queue'), item('queue')]);
    assert.equal(writer.queuedEventCount, 3);
    const refused = writer.append([item('queue', { refused: true }), item('queue'), item('queue')]);
    const fits = writer.append([item('queue'), item('queue')]);
    await assert.rejects(refused, (error: unknown) => error instanceof WriteQueueFullError && error.retryAfterSeconds === 1);
    await Promise.all([first, fits]);
    assert.equal(writer.queuedEventCount, 0);
    // One call larger than the bound is still taken when nothing waits before it.
    assert.equal((await writer.append(Array.from({ length: 8 }, () => item('queue')))).length, 8);
    assert.deepEqual(
      await sequencesOf('tenant-a', 'queue'),
      Array.from({ length: 13 }, (_, i) => i + 1),
    );
    const { rows } = await store.sql.query("SELECT 1 FROM events WHERE session_id = 'queue' AND data ? 'refused'");
    assert.equal(rows.length, 0);
  });

  it('makes a retry with the same dedupe key a no-op in that session, within a call, a batch and later', async () => {
    const writer = store.newWriter();
    const keyed = (sessionId: string, key: string, n: number) => item(sessionId, { n }, { dedupeKey: key });
    const first = await writer.append([keyed('dedupe', 'k1', 1), keyed('dedupe', 'k2', 2), keyed('dedupe', 'k1', 3)]);
    assert.deepEqual(
      first.map((r) => [r.sequence, r.duplicate]),
      [
        [1, false],
        [2, false],
        [1, true],
      ],
    );
    const [again, alsoNew] = await Promise.all([
      writer.append([keyed('dedupe', 'k2', 4)]),
      writer.append([keyed('dedupe', 'k3', 5), keyed('dedupe-other', 'k1', 6)]),
    ]);
    assert.deepEqual(again, [{ sessionId: 'dedupe', sequence: 2, duplicate: true }]);
    assert.deepEqual(alsoNew, [
      { sessionId: 'dedupe', sequence: 3, duplicate: false },
      { sessionId: 'dedupe-other', sequence: 1, duplicate: false },
    ]);
    // The stored copy is the first; the projections count each event once.
    const { rows } = await store.sql.query<{ sequence: number; n: number }>(
      "SELECT sequence, (data->>'n')::int AS n FROM events WHERE session_id = 'dedupe' ORDER BY sequence",
    );
    assert.deepEqual(
      rows.map((r) => [r.sequence, r.n]),
      [
        [1, 1],
        [2, 2],
        [3, 5],
      ],
    );
    const sessions = await store.sql.query<{ event_count: number }>("SELECT event_count FROM sessions WHERE session_id = 'dedupe'");
    assert.equal(sessions.rows[0]!.event_count, 3);
  });

  it('drain() resolves once every queued and committing call has settled', async () => {
    const writer = store.newWriter({ windowMs: 30, maxBatchEvents: 2 });
    await writer.drain(); // idle: at once
    const settled: number[] = [];
    for (let i = 0; i < 5; i++) void writer.append([item('drain', { i }), item('drain', { i })]).then(() => settled.push(i));
    assert.equal(writer.queuedEventCount, 10);
    await writer.drain();
    assert.deepEqual(settled.sort(), [0, 1, 2, 3, 4]);
    assert.equal(writer.queuedEventCount, 0);
    assert.equal((await sequencesOf('tenant-a', 'drain')).length, 10);
  });
  it('stores a batch once when an observer throws, and reports the calls a retry-alone pass committed', async () => {
    const writer = store.newWriter();
    const batches: CommittedBatch[] = [];
    writer.onBatchCommitted(() => {
      throw new Error('a broken metrics observer');
    });
    writer.onBatchCommitted((b) => batches.push(b));
    const results = await Promise.all([writer.append([item('observed')]), writer.append([item('observed')])]);
    assert.deepEqual(
      results.map((r) => r[0]!.sequence),
      [1, 2],
    );
    assert.deepEqual(await sequencesOf('tenant-a', 'observed'), [1, 2]);

    batches.length = 0;
    const refused = writer.append([item('observed-alone', { text: 'bad \u0000' })]);
    const [stored] = await Promise.all([writer.append([item('observed-alone')]), refused.catch(() => undefined)]);
    assert.equal(stored[0]!.sequence, 1);
    assert.deepEqual(
      batches.map((b) => [b.requests, b.events]),
      [[1, 1]],
    );
  });
});
