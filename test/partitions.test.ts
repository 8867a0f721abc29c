import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql, type Kysely, type Transaction } from 'kysely';
import { createPool, DatabaseConnection, defaultMigrationsDir, inScope, migrate, readMigrations, type Database } from '#ark/database';
import { EventLogRepository, FEED_START, recordedFromAfter } from '#ark/event-store';
import { RetentionRepository, RowReaper, type PartitionOptions } from '#ark/retention';
import { runCli } from './support/cli.js';
import { sleep } from './support/sse-client.js';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';
import { createTestDatabase } from './support/test-database.js';

/** Partitions two seconds wide, so a test can cross their boundaries; dropped as soon as they ended. */
const WIDTH_SECONDS = 2;
const narrow: PartitionOptions = { widthSeconds: WIDTH_SECONDS, ahead: 5, dropAfterSeconds: 0 };
const quiet = { info: () => undefined, error: (m: string) => console.error(m) };

/** Waits until just past the next partition boundary. */
const pastNextBoundary = () => sleep(Math.ceil(Date.now() / (WIDTH_SECONDS * 1000)) * WIDTH_SECONDS * 1000 - Date.now() + 150);

const op = (session: string, query: string, extra: Record<string, unknown> = {}) => ({
  timestamp: new Date().toISOString(),
  eventType: 'Normal',
  reason: 'QueryExecutionStart',
  message: `${query} started`,
  data: { queryId: `${query}-uid`, queryName: query, queryNamespace: 'default', sessionId: session },
  ...extra,
});

describe('time-partitioned log: partitions ahead and behind, dedupe across them', () => {
  let broker: TestBroker;
  let reaper: RowReaper;
  const partitions = async () =>
    (await broker.sql.query<{ name: string; lower_bound: Date | number; upper_bound: Date | null }>('SELECT * FROM ark_event_partitions()')).rows;
  const partitionOf = async (where: string) =>
    (await broker.sql.query<{ name: string }>(`SELECT tableoid::regclass::text AS name FROM events WHERE ${where}`)).rows.map((r) => r.name);
  const count = async (sql: string) => Number((await broker.sql.query<{ n: string }>(sql)).rows[0]!.n);

  before(async () => {
    // Events (not sessions) expire after 2 s; the reaper is driven by hand.
    broker = await startTestBroker({
      EVENT_VISIBILITY_TTL_SECONDS: '2',
      MESSAGE_VISIBILITY_TTL_SECONDS: '2',
      SESSIONS_VISIBILITY_TTL_SECONDS: '3600',
      ROW_REAP_INTERVAL_SECONDS: '0',
    });
    // The broker's own partition timer (its reaper is off) is stopped: this test drives them by hand.
    await broker.app.get(RowReaper).stop();
    // Start-up made day partitions; narrow ones replace them (they are empty).
    for (const p of await partitions()) if (/^events_p\d{8}$/.test(p.name)) await broker.sql.query(`DROP TABLE ${p.name}`);
    reaper = new RowReaper(new RetentionRepository(broker.app.get(DatabaseConnection).db), { intervalSeconds: 0, batchSize: 1000, partitions: narrow }, quiet);
  });
  after(() => broker.close());

  it('creates the partition holding now and the next ones; drops the empty first partition of a fresh database', async () => {
    await pastNextBoundary(); // so the partition holding now has not ended when the same pass drops what ended
    const report = await reaper.reapOnce();
    assert.equal(report.partitions.skipped, false);
    assert.equal(report.partitions.created, 6);
    assert.deepEqual(report.partitions.dropped, ['events_legacy'], 'the table from before partitioning, empty here, ended at migration');
    const now = Date.now();
    const dated = (await partitions()).filter((p) => p.name.startsWith('events_p'));
    assert.equal(dated.length, 6);
    assert.ok(
      dated.some((p) => (p.lower_bound as Date).getTime() <= now && p.upper_bound!.getTime() > now),
      'one holds now',
    );
    assert.equal(dated.filter((p) => (p.lower_bound as Date).getTime() > now).length, 5, 'five ahead');
    for (const p of dated.slice(1)) assert.match(p.name, /^events_p\d{8}_\d{6}$/);
  });

  it('answers a retry after a partition boundary as a duplicate: one row, no sequence used', async () => {
    await reaper.reapOnce(); // the partitions ahead, as the reaper's timer keeps them
    await pastNextBoundary();
    const event = { sessionId: 'retry', type: 'custom.retry', dedupeKey: 'k', data: { n: 1 } };
    const first = await postJson(`${broker.url}/v2/events`, event);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.items[0].duplicate, false);
    const [original] = await partitionOf(`session_id = 'retry'`);
    await pastNextBoundary(); // into a partition made ahead by the pass before
    const retry = await postJson(`${broker.url}/v2/events`, event);
    assert.deepEqual([retry.body.items[0].sequence, retry.body.items[0].duplicate], [1, true]);
    assert.equal(await count(`SELECT count(*) AS n FROM events WHERE session_id = 'retry'`), 1);
    const next = await postJson(`${broker.url}/v2/events`, { sessionId: 'retry', type: 'custom.next', data: {} });
    assert.equal(next.body.items[0].sequence, 2, 'the retry used no sequence');
    const [later] = await partitionOf(`session_id = 'retry' AND sequence = 2`);
    assert.ok(original && later && original !== later, `the retry came in another partition (${original}, ${later})`);
  });

  it('drops a partition whose rows all expired, keeps one with an unexpired row; the session goes on from its sequence', async () => {
    await reaper.reapOnce();
    await pastNextBoundary();
    assert.equal((await postJson(`${broker.url}/events`, op('rotating', 'q-short'))).status, 201);
    const [short] = await partitionOf(`session_id = 'rotating' AND sequence = 1`);
    await pastNextBoundary();
    assert.equal((await postJson(`${broker.url}/events`, op('rotating', 'q-kept', { ttl_seconds: 3600 }))).status, 201);
    const [kept] = await partitionOf(`session_id = 'rotating' AND sequence = 2`);
    assert.ok(short && kept && short !== kept);
    // Both partitions ended and the short row expired (2 s).
    await pastNextBoundary();
    await sleep(WIDTH_SECONDS * 1000);
    const report = await reaper.reapOnce();
    assert.ok(report.partitions.dropped.includes(short), `${short} dropped: ${report.partitions.dropped.join()}`);
    assert.ok(!report.partitions.dropped.includes(kept), `${kept} kept`);
    assert.ok(report.partitions.created >= 1, 'new ones ahead');
    const names = (await partitions()).map((p) => p.name);
    assert.ok(!names.includes(short) && names.includes(kept));
    assert.ok(report.dedupeKeys >= 1, 'the keys of the dropped rows are swept');
    assert.equal(
      await count(`SELECT count(*) AS n FROM event_dedupe_keys k WHERE k.session_id = 'rotating' AND NOT EXISTS
                     (SELECT 1 FROM events e WHERE e.tenant_id = k.tenant_id AND e.session_id = k.session_id AND e.sequence = k.sequence)`),
      0,
      'no key outlives its event',
    );
    assert.deepEqual(
      (await broker.sql.query(`SELECT sequence::int FROM events WHERE session_id = 'rotating'`)).rows.map((r) => r.sequence),
      [2],
    );
    assert.equal((await postJson(`${broker.url}/events`, op('rotating', 'q-after', { ttl_seconds: 3600 }))).status, 201);
    assert.deepEqual(
      (await broker.sql.query(`SELECT sequence::int FROM events WHERE session_id = 'rotating' ORDER BY 1`)).rows.map((r) => r.sequence),
      [2, 3],
      'no sequence reused after a drop',
    );
    assert.equal(await count(`SELECT count(*) AS n FROM events_default`), 0, 'nothing landed in the DEFAULT partition');
  });

  it('lets two replicas run their passes at once: one does the partitions, the other skips them', async () => {
    const other = new RowReaper(
      new RetentionRepository(broker.app.get(DatabaseConnection).db),
      { intervalSeconds: 0, batchSize: 1000, partitions: narrow },
      quiet,
    );
    let created = 0;
    let dropped = 0;
    const before = (await partitions()).length;
    for (let round = 0; round < 4; round++) {
      const reports = await Promise.all([reaper.reapOnce(), other.reapOnce()]);
      for (const r of reports) {
        created += r.partitions.created;
        dropped += r.partitions.dropped.length;
      }
      await sleep(700);
    }
    const after = await partitions();
    const dated = after.filter((p) => p.name.startsWith('events_p'));
    for (let i = 1; i < dated.length; i++) {
      assert.ok((dated[i]!.lower_bound as Date).getTime() >= dated[i - 1]!.upper_bound!.getTime(), 'no two overlap');
    }
    assert.equal(new Set(after.map((p) => p.name)).size, after.length);
    assert.equal(after.length, before + created - dropped, 'each partition created once, dropped once');

    // Another replica holding the partition lock: this pass skips the partitions and still reaps rows.
    const holder = await broker.sql.connect();
    try {
      await holder.query(`SELECT pg_advisory_lock(hashtext('ark_partitions'))`);
      const skipped = await reaper.reapOnce();
      assert.deepEqual(skipped.partitions, { created: 0, dropped: [], skipped: true });
    } finally {
      await holder.query(`SELECT pg_advisory_unlock(hashtext('ark_partitions'))`);
      holder.release();
    }
  });

  it('`ark-broker retention status` lists the partitions, and raises the alarm for a row in the DEFAULT partition', async () => {
    const env = { DATABASE_URL: broker.database.url, ROW_REAP_INTERVAL_SECONDS: '0' };
    const status = await runCli(['retention', 'status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^partition\tfrom\tto\tsize\trows\tnewest expiry\tdropped$/m);
    // The kept rows' partitions wait for their rows (an hour); an empty one only for its end (and an hour).
    assert.match(status.stdout, /^events_p\d{8}_\d{6}\t\d{4}-\S+\t\d{4}-\S+\t\d+\.\d MiB\t1\t\d{4}-\S+\t\d{4}-\S+$/m, status.stdout);
    assert.match(status.stdout, /^events_p\d{8}_\d{6}\t\d{4}-\S+\t\d{4}-\S+\t\d+\.\d MiB\t0\t-\t\d{4}-\S+$/m);
    assert.match(status.stdout, /^events_default\tDEFAULT\t-\t\d+\.\d MiB\t0\t-\t-$/m);
    assert.doesNotMatch(status.stdout, /ALARM/);

    await broker.sql.query(`
      INSERT INTO events (tenant_id, session_id, sequence, type, time, recorded_at, source, data, expires_at)
      VALUES ('default', 'far-future', 1, 'custom.clock', now(), '2100-01-01', 'api', '{}', '2100-01-02')`);
    const alarmed = await runCli(['retention', 'status'], env);
    assert.match(alarmed.stdout, /^events_default\tDEFAULT\t-\t\d+\.\d MiB\t1\t2100-01-02T00:00:00.000Z\tnever \(must stay empty\)$/m, alarmed.stdout);
    assert.match(alarmed.stdout, /^ALARM: 1 events in events_default/m);
    await broker.sql.query(`DELETE FROM events_default`);
  });
});

describe('time-partitioned log: converting a database that holds events (0250-0253)', () => {
  it('attaches the old table as events_legacy without building its indexes; keys, sequences and positions go on', async () => {
    const database = await createTestDatabase();
    const pool = createPool({ connectionString: database.url, max: 1 });
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-partitions-test-'));
    try {
      // The migrations before 0250.
      await cp(defaultMigrationsDir(), scratch, { recursive: true });
      for (const f of await readMigrations()) if (f.version >= '0250') await rm(path.join(scratch, `${f.version}_${f.name}.sql`));
      await migrate(pool, scratch);
      await pool.query(`
        INSERT INTO events (tenant_id, session_id, sequence, type, time, recorded_at, source, dedupe_key, data, expires_at)
        SELECT 't', 's', g, 'custom.old', now(), now() - interval '2 days', 'api', 'k' || g, '{}', 'infinity' FROM generate_series(1, 3) g`);
      await pool.query(`INSERT INTO event_streams (tenant_id, session_id, last_sequence) VALUES ('t', 's', 3)`);
      const indexOid = async (name: string) => Number((await pool.query<{ oid: string }>(`SELECT $1::regclass::oid AS oid`, [name])).rows[0]!.oid);
      const feedIndex = await indexOid('events_tenant_feed');
      const positions = (await pool.query<{ max: string }>('SELECT max(global_position) FROM events')).rows[0]!.max;

      await migrate(pool);
      const kinds = await pool.query<{ relname: string; relkind: string }>(
        `SELECT relname, relkind FROM pg_class WHERE relname IN ('events', 'events_legacy', 'events_default') ORDER BY 1`,
      );
      assert.deepEqual(
        kinds.rows.map((r) => [r.relname, r.relkind]),
        [
          ['events', 'p'],
          ['events_default', 'r'],
          ['events_legacy', 'r'],
        ],
      );
      assert.equal(await indexOid('events_legacy_tenant_feed'), feedIndex, 'the old index was attached, not built again');
      assert.equal(Number((await pool.query(`SELECT count(*) AS n FROM events_legacy`)).rows[0].n), 3);
      assert.equal(Number((await pool.query(`SELECT count(*) AS n FROM event_dedupe_keys`)).rows[0].n), 3);
      const views = await pool.query(`SELECT definition FROM pg_views WHERE viewname = 'analyst_events'`);
      assert.doesNotMatch(views.rows[0].definition, /events_legacy/, 'views read the partitioned table');

      const append = async (dk: string) =>
        (
          await pool.query<{ sequence: string; duplicate: boolean; global_position: string | null }>(`SELECT * FROM ark_append_events($1)`, [
            JSON.stringify([{ i: 0, t: 't', s: 's', y: 'custom.new', src: 'api', dk, d: {} }]),
          ])
        ).rows[0]!;
      const retried = await append('k2');
      assert.deepEqual([Number(retried.sequence), retried.duplicate], [2, true], 'a key stored before the conversion still answers');
      const fresh = await append('k9');
      assert.equal(Number(fresh.sequence), 4);
      assert.ok(Number(fresh.global_position) > Number(positions), 'global_position goes on from its sequence');
      const [landed] = (await pool.query(`SELECT tableoid::regclass::text AS name FROM events WHERE dedupe_key = 'k9'`)).rows;
      assert.match(landed.name, /^events_p\d{8}$/);
    } finally {
      await pool.end();
      await database.drop();
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

describe('time-partitioned log: feed reads open only the recent partitions', () => {
  let broker: TestBroker;
  let db: Kysely<Database>;
  const scope = { tenantId: 'default' };
  /**
   * The partitions of `events` whose indexes a statement run in `trx` opened (locks are held until the
   * transaction ends). A generic plan locks every partition's table, whatever it prunes at executor
   * start; what it prunes it does not open, nor any of its indexes.
   */
  const openedPartitions = async (trx: Transaction<Database>) =>
    (
      await sql<{ name: string }>`SELECT DISTINCT i.indrelid::regclass::text AS name FROM pg_locks l JOIN pg_index i ON i.indexrelid = l.relation
        WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
          AND i.indrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass) ORDER BY 1`.execute(trx)
    ).rows.map((r) => r.name);

  before(async () => {
    broker = await startTestBroker({ ROW_REAP_INTERVAL_SECONDS: '0' });
    db = broker.app.get(DatabaseConnection).db;
    // Thirty days as a month of retention leaves them, in place of the (empty) table from before
    // partitioning; today's partition (empty yet) made to start a day earlier than the migration, so
    // that the last five minutes lie in it alone.
    await broker.sql.query(`
      DO $$
      DECLARE
        today record;
        first timestamptz;
      BEGIN
        SELECT * INTO today FROM ark_event_partitions() WHERE name <> 'events_legacy' AND NOT is_default ORDER BY lower_bound LIMIT 1;
        first := today.lower_bound - interval '1 day';
        ALTER TABLE events DETACH PARTITION events_legacy;
        DROP TABLE events_legacy;
        EXECUTE format('DROP TABLE %I', today.name);
        EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)', today.name, first, today.upper_bound);
        FOR d IN 1..30 LOOP
          EXECUTE format('CREATE TABLE events_past_%s PARTITION OF events FOR VALUES FROM (%L) TO (%L)', d, first - d * interval '1 day', first - (d - 1) * interval '1 day');
        END LOOP;
      END $$`);
    for (let i = 0; i < 3; i++)
      assert.equal((await postJson(`${broker.url}/v2/events`, { sessionId: 'recent', type: 'custom.recent', data: { i } })).status, 201);
  });
  after(() => broker.close());

  it('from an event it read (recordedFrom), from a client cursor (the xid clock) and from now: only the partition holding now is opened', async () => {
    const all = (await new EventLogRepository(db).readFeed(scope, FEED_START, 100)).events.filter((e) => e.sessionId === 'recent');
    assert.equal(all.length, 3);
    const first = all[0]!;
    const fromEvent = { transactionId: BigInt(first.transactionId), globalPosition: first.globalPosition, recordedFrom: recordedFromAfter(first) };
    const fromClient = { transactionId: BigInt(first.transactionId), globalPosition: first.globalPosition };
    const now = (await new EventLogRepository(db).feedNow()).cursor;
    for (const cursor of [fromEvent, fromClient, now]) {
      // In the scope's tenant (the transaction sets it at BEGIN), so the read sees the tenant's rows.
      await inScope(scope, () =>
        db.transaction().execute(async (trx) => {
          // As DatabaseConnection.genericPlans plans it; the first read makes the generic plan (planning
          // opens every partition), and the locks it took go with the savepoint: the second is as every later call.
          await sql`SET LOCAL plan_cache_mode = force_generic_plan`.execute(trx);
          await sql`SAVEPOINT planned`.execute(trx);
          await new EventLogRepository(trx).readFeed(scope, cursor, 100);
          await sql`ROLLBACK TO SAVEPOINT planned`.execute(trx);
          const page = await new EventLogRepository(trx).readFeed(scope, cursor, 100);
          const recent = page.events.filter((e) => e.sessionId === 'recent').map((e) => e.data);
          assert.deepEqual(recent, cursor === now ? [] : [{ i: 1 }, { i: 2 }]);
          const opened = await openedPartitions(trx);
          assert.equal(opened.length, 1, `one partition opened, not ${opened.join(', ')}`);
          assert.match(opened[0]!, /^events_p\d{8}$/);
        }),
      );
    }
  });

  it('reads again with a later upper bound when the database clock is ahead of its guess', async () => {
    const log = new EventLogRepository(db);
    (log as unknown as { clockOffsetMs: number }).clockOffsetMs = -3_600_000; // this process's clock an hour ahead
    const page = await log.readFeed(scope, FEED_START, 100);
    assert.equal(page.events.filter((e) => e.sessionId === 'recent').length, 3, 'the events recorded after the first guess');
  });

  it('refuses an append whose transaction started longer ago than an append may take', async () => {
    const client = await broker.sql.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ark.append_max_interval = '200 ms'`);
      await client.query('SELECT pg_sleep(0.3)');
      await assert.rejects(
        client.query(`SELECT * FROM ark_append_events($1)`, [JSON.stringify([{ i: 0, t: 'default', s: 'late', y: 'custom.late', src: 'api', d: {} }])]),
        /the transaction started .* ago, more than the 5 minutes an append may take/,
      );
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
    assert.equal((await broker.sql.query(`SELECT count(*)::int AS n FROM events WHERE session_id = 'late'`)).rows[0].n, 0);
  });
});
