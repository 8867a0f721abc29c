import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { createPool, type Database } from '#ark/database';
import { EventLogRepository } from '#ark/event-store';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

describe('event log over HTTP', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('gives 50 concurrent writers × 20 events in one session the sequences 1..1000 exactly', async () => {
    const writers = Array.from({ length: 50 }, async (_, w) => {
      const sequences: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await postJson(`${broker.url}/v2/events`, { sessionId: 'contended', type: 'custom.write', data: { w, i } });
        assert.equal(res.status, 201);
        sequences.push(res.body.items[0].sequence);
      }
      return sequences;
    });
    const acknowledged = (await Promise.all(writers)).flat().sort((a, b) => a - b);
    assert.deepEqual(
      acknowledged,
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );

    const { rows } = await broker.sql.query<{ sequence: string }>("SELECT sequence FROM events WHERE session_id = 'contended' ORDER BY sequence");
    assert.deepEqual(
      rows.map((r) => Number(r.sequence)),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    );
    // Each writer's own events keep their order: a later request never gets an earlier sequence.
    const perWriter = await broker.sql.query<{ w: number; seqs: string[] }>(
      "SELECT (data->>'w')::int AS w, array_agg(sequence ORDER BY (data->>'i')::int) AS seqs FROM events WHERE session_id = 'contended' GROUP BY 1",
    );
    for (const { seqs } of perWriter.rows) {
      const numbers = seqs.map(Number);
      assert.deepEqual(
        numbers,
        [...numbers].sort((a, b) => a - b),
      );
    }
  });

  it('stores a batch posted twice with dedupe keys once, and says which were duplicates', async () => {
    const batch = Array.from({ length: 5 }, (_, i) => ({ sessionId: 'dedupe', type: 'custom.retry', dedupeKey: `k${i}`, data: { i } }));
    const first = await postJson(`${broker.url}/v2/events`, batch);
    const second = await postJson(`${broker.url}/v2/events`, batch);
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.deepEqual(
      first.body.items.map((r: { duplicate: boolean }) => r.duplicate),
      [false, false, false, false, false],
    );
    assert.deepEqual(
      second.body.items.map((r: { duplicate: boolean }) => r.duplicate),
      [true, true, true, true, true],
    );
    assert.deepEqual(
      second.body.items.map((r: { sequence: number }) => r.sequence),
      first.body.items.map((r: { sequence: number }) => r.sequence),
    );
    // A mixed batch: new keys are appended after the existing ones, repeats inside one batch count once.
    const mixed = await postJson(`${broker.url}/v2/events`, [
      { sessionId: 'dedupe', type: 'custom.retry', dedupeKey: 'k4', data: {} },
      { sessionId: 'dedupe', type: 'custom.retry', dedupeKey: 'k5', data: {} },
      { sessionId: 'dedupe', type: 'custom.retry', dedupeKey: 'k5', data: {} },
    ]);
    assert.deepEqual(
      mixed.body.items.map((r: { sequence: number; duplicate: boolean }) => [r.sequence, r.duplicate]),
      [
        [5, true],
        [6, false],
        [6, true],
      ],
    );
    const page = await getJson(`${broker.url}/v2/sessions/dedupe/events`);
    assert.equal(page.body.items.length, 6);
  });

  it('concurrent duplicates from many clients still store one copy', async () => {
    const event = { sessionId: 'dedupe-race', type: 'custom.retry', dedupeKey: 'same', data: {} };
    const answers = await Promise.all(Array.from({ length: 20 }, () => postJson(`${broker.url}/v2/events`, event)));
    assert.ok(answers.every((a) => a.status === 201));
    assert.equal(answers.filter((a) => !a.body.items[0].duplicate).length, 1);
    const { rows } = await broker.sql.query("SELECT count(*)::int AS n FROM events WHERE session_id = 'dedupe-race'");
    assert.equal(rows[0].n, 1);
  });

  it('sends one NOTIFY per committing transaction, below 8000 bytes, coarser when the sessions would not fit', async () => {
    const listener = new pg.Client({ connectionString: broker.database.url });
    await listener.connect();
    const payloads: string[] = [];
    listener.on('notification', (n) => payloads.push(n.payload ?? ''));
    await listener.query('LISTEN ark_events');
    const waitFor = async (count: number) => {
      for (let i = 0; i < 100 && payloads.length < count; i++) await sleep(20);
      await sleep(100); // and no more than that
      return payloads.splice(0);
    };
    try {
      const small = await postJson(`${broker.url}/v2/events`, [
        { sessionId: 'notify-a', type: 'custom.n', queryId: 'q-1', dedupeKey: 'n1', data: {} },
        { sessionId: 'notify-a', type: 'custom.n', data: {} },
      ]);
      assert.equal(small.status, 201);
      const [one, ...more] = await waitFor(1);
      assert.equal(more.length, 0);
      const parsed = JSON.parse(one!) as { tx: string; s: [string, string, number][]; q: [string, string][] };
      assert.match(parsed.tx, /^\d+$/);
      assert.deepEqual(parsed.s, [['default', 'notify-a', 2]]);
      assert.deepEqual(parsed.q, [['default', 'q-1']]);

      // A retry that is all duplicates writes nothing and wakes nobody.
      const retry = await postJson(`${broker.url}/v2/events`, { sessionId: 'notify-a', type: 'custom.n', dedupeKey: 'n1', data: {} });
      assert.equal(retry.body.items[0].duplicate, true);
      assert.deepEqual(await waitFor(1), []);

      // 400 sessions with long ids would need ~25 kB: the wake-up names the tenants only.
      const wide = Array.from({ length: 400 }, (_, i) => ({ sessionId: `notify-wide-${'x'.repeat(40)}-${i}`, type: 'custom.n', data: {} }));
      assert.equal((await postJson(`${broker.url}/v2/events`, wide)).status, 201);
      const [coarse, ...extra] = await waitFor(1);
      assert.equal(extra.length, 0);
      assert.ok(Buffer.byteLength(coarse!) < 8000);
      const { tx, at } = JSON.parse(coarse!) as { tx: string; at: number };
      assert.deepEqual(JSON.parse(coarse!), { tx, at, t: ['default'] });
      assert.ok(Math.abs(at - Date.now()) < 60_000, 'at is when the NOTIFY was queued, in ms since the epoch');
    } finally {
      await listener.end();
    }
  });

  it('pages the tenant feed in transaction-id order across a change in digit count (xid8, not text)', async () => {
    // Two committed rows whose transaction ids straddle a power of ten below the current one, e.g.
    // 99999 and 100000: text order would put the second first and the cursor would skip the first.
    const { rows } = await broker.sql.query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
    const boundary = 10n ** BigInt(rows[0]!.xid.length - 1);
    assert.ok(boundary >= 10n, 'the server has made at least ten transactions');
    for (const tx of [boundary - 1n, boundary]) {
      await broker.sql.query(
        `INSERT INTO events (tenant_id, session_id, sequence, transaction_id, type, time, source, data, expires_at)
         VALUES ('default', 'digits', $1, $2::xid8, 'custom.digits', now(), 'api', '{}', 'infinity')`,
        [tx - boundary + 2n, tx.toString()],
      );
    }
    const seen: string[] = [];
    let cursor = `${boundary - 2n}:0`;
    for (let page = 0; page < 2; page++) {
      const res = await getJson(`${broker.url}/v2/events?after=${cursor}&limit=1`);
      assert.equal(res.status, 200);
      seen.push(`${res.body.items[0].sessionId}/${res.body.items[0].sequence}`);
      cursor = res.body.nextCursor;
    }
    assert.deepEqual(seen, ['digits/1', 'digits/2']);
  });

  it('keeps the tenant feed gap-free when a transaction that began first commits last', async () => {
    const watcher = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
    await watcher.opened;
    await sleep(100);

    // Hold a transaction open after it has taken its global position (it began first, so it has
    // the lower transaction id), then append through HTTP, which commits at once.
    const pool = createPool({ connectionString: broker.database.url, max: 1 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let appended!: () => void;
    const heldAppended = new Promise<void>((resolve) => (appended = resolve));
    const held = db.transaction().execute(async (trx) => {
      await new EventLogRepository(trx).append(trx, [{ tenantId: 'default', sessionId: 'slow', event: { type: 'custom.slow', source: 'api', data: {} } }]);
      appended();
      await released;
    });
    await heldAppended;
    const fast = await postJson(`${broker.url}/v2/events`, { sessionId: 'fast', type: 'custom.fast', data: {} });
    assert.equal(fast.status, 201);

    // The later transaction is committed, but the feed must not run past the open one.
    await sleep(400);
    assert.equal(watcher.messages.length, 0, 'nothing is delivered past a transaction still running');

    release();
    await held;
    const messages = await watcher.waitFor(2);
    await sleep(200);
    assert.deepEqual(
      messages.map((m) => m.data.type),
      ['custom.slow', 'custom.fast'],
    );
    assert.equal(messages.length, 2);
    // Ids are the resumable tx:pos cursors, increasing.
    const [a, b] = messages.map((m) => m.id.split(':').map(BigInt));
    assert.ok(a![0]! < b![0]!);

    // The paged feed gives the same order, and resuming after the first id gives exactly the second.
    const page = await getJson(`${broker.url}/v2/events?after=${messages[0]!.id}`);
    assert.deepEqual(
      page.body.items.map((e: { type: string }) => e.type),
      ['custom.fast'],
    );
    watcher.close();
    await db.destroy();
  });

  it('is not held back by a long transaction in another database on the same server', async () => {
    const other = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await other.connect();
    await other.query('BEGIN');
    await other.query('SELECT pg_current_xact_id()'); // takes a transaction id and keeps it open
    try {
      const watcher = new RecordingEventSource(`${broker.url}/v2/events?watch=true`);
      await watcher.opened;
      await sleep(100);
      await postJson(`${broker.url}/v2/events`, { sessionId: 'unaffected', type: 'custom.a', data: {} });
      const [message] = await watcher.waitFor(1, 3_000);
      assert.equal(message!.data.sessionId, 'unaffected');
      watcher.close();
    } finally {
      await other.query('ROLLBACK');
      await other.end();
    }
  });
});
