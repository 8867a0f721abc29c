/**
 * The broker keeps the planner's statistics itself (PlannerStatistics, ark_analyze_stale_table): with
 * autovacuum off (this machine) or not yet run, a log read before anything analyzed it is planned with
 * default selectivities. `GET /v2/events?limit=100` then read every event of the tenant, in a bitmap
 * scan, and sorted them for the first hundred: 150–500 ms at 90,000 events, 7.6 ms after an ANALYZE.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { DatabaseConnection, migrate, type ReadScope } from '#ark/database';
import { EventLogRepository, FEED_START } from '#ark/event-store';
import { PlannerStatistics, PlannerStatisticsRepository } from '#ark/retention';
import { ToolCallRepository } from '../apps/broker/src/sessions-v2/tool-call.repository.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { eventually } from './support/eventually.js';
import { openPlanLoggingDatabase, type PlanLoggingDatabase } from './support/plan-logging-database.js';

const TENANT = 'stats';
const scope: ReadScope = { tenantId: TENANT };

describe('planner statistics kept by the broker', () => {
  let database: TestDatabase;
  let owner: pg.Pool;
  let connection: DatabaseConnection;
  let statistics: PlannerStatistics;
  const plans: string[] = [];

  before(async () => {
    database = await createTestDatabase();
    owner = new pg.Pool({ connectionString: database.url, max: 1 });
    await migrate(owner);
    // Whatever the server's autovacuum does, only the broker analyzes during the test.
    const { rows } = await owner.query<{ relname: string }>("SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace");
    for (const { relname } of rows) await owner.query(`ALTER TABLE ${pg.escapeIdentifier(relname)} SET (autovacuum_enabled = false)`);
    // The broker's pool (its role, not the tables' owner) reports each plan as a notice.
    const name = pg.escapeIdentifier(new URL(database.url).pathname.slice(1));
    for (const setting of ["session_preload_libraries = 'auto_explain'", 'auto_explain.log_min_duration = 0', "auto_explain.log_level = 'notice'"]) {
      await owner.query(`ALTER DATABASE ${name} SET ${setting}`);
    }
    connection = new DatabaseConnection({ url: database.url, poolSize: 1 });
    connection.pool.on('connect', (client) => client.on('notice', (notice) => plans.push(notice.message ?? '')));
    statistics = new PlannerStatistics(new PlannerStatisticsRepository(connection.db), { intervalSeconds: 0 }, { debug: () => {}, error: () => {} });
  });
  after(async () => {
    await statistics?.stop();
    await connection?.close();
    await owner?.end();
    await database?.drop();
  });

  /** Appends `count` events the way a young log gets them, and waits until the server counts them. */
  const grow = async (from: number, count: number) => {
    await owner.query(
      `INSERT INTO events (tenant_id, session_id, sequence, type, time, source, data, expires_at)
       SELECT $1, 'session-' || (n / 100), n % 100 + 1, 'span.ended', now(), 'otlp', $4::jsonb, now() + interval '1 day'
         FROM generate_series($2::int, $3::int) n`,
      // About a span's size, so the events take the pages they do.
      [TENANT, from, from + count - 1, JSON.stringify({ attributes: 'x'.repeat(300) })],
    );
    await owner.query('SELECT pg_stat_force_next_flush()');
    await eventually(
      'the inserts counted',
      async () => (await owner.query<{ n: string }>("SELECT n_mod_since_analyze AS n FROM pg_stat_user_tables WHERE relname = 'events'")).rows[0]?.n,
      (n) => Number(n) >= count,
    );
  };
  const feedPlan = async () => {
    plans.length = 0;
    const page = await new EventLogRepository(connection.db).readFeed(scope, FEED_START, 100);
    assert.equal(page.events.length, 100);
    const plan = plans.find((p) => p.includes('FROM events'));
    assert.ok(plan, `the feed's plan was reported: ${plans.join('\n---\n')}`);
    return plan;
  };
  const lastAnalyzed = async (table: string) =>
    (await owner.query<{ at: Date | null }>('SELECT last_analyze AS at FROM pg_stat_user_tables WHERE relname = $1', [table])).rows[0]?.at ?? null;

  it('analyzes the never-analyzed log, after which the feed reads its first page through the ordered index', async () => {
    await grow(0, 30_000);
    const before = await feedPlan();
    // Without statistics one tenant is 0.5 % of the table: a bitmap scan of all its events and a sort.
    assert.match(before, /Sort Key: events\.transaction_id, events\.global_position/, before);

    const analyzed = await statistics.analyzeOnce();
    assert.ok(analyzed.includes('events'), `events analyzed: ${analyzed.join(', ')}`);
    assert.ok((await lastAnalyzed('events')) !== null);
    // Empty tables are left alone: statistics of no rows would make the planner trust they are tiny.
    assert.ok(!analyzed.includes('messages'), `messages (empty) not analyzed: ${analyzed.join(', ')}`);
    assert.equal(await lastAnalyzed('messages'), null);

    const after = await feedPlan();
    assert.match(after, /Index Scan using events_tenant_feed on events/, after);
    assert.doesNotMatch(after, /Sort Key/, after);
  });

  it('analyzes a table again only once a share of its rows changed, and one replica at a time', async () => {
    assert.deepEqual(await statistics.analyzeOnce(), [], 'nothing changed since the last pass');
    await grow(30_000, 1_000);
    assert.deepEqual(await statistics.analyzeOnce(), [], 'a thirtieth changed: below the share');
    await grow(31_000, 5_000);

    // Another replica's pass holds the lock: this one skips.
    const other = await owner.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(4211, 250)');
      assert.deepEqual(await statistics.analyzeOnce(), []);
      await other.query('COMMIT');
    } finally {
      other.release();
    }
    const previous = await lastAnalyzed('events');
    assert.deepEqual(await statistics.analyzeOnce(), ['events']);
    assert.ok((await lastAnalyzed('events'))! > previous!);
  });

  it('pages tool calls with no filter through their listing index, not a sort of all of them (migrations/0270)', async () => {
    await owner.query(
      `INSERT INTO tool_calls (tenant_id, call_key, query_key, tool_name, status, event_count, first_position)
       SELECT $1, 'call-' || n, 'query-' || (n / 10), 'tool-' || (n % 7), 'completed', 2, n FROM generate_series(1, 20000) n`,
      [TENANT],
    );
    await owner.query('ANALYZE tool_calls');
    plans.length = 0;
    const page = await new ToolCallRepository(connection).list(scope, {}, 20, undefined);
    assert.deepEqual(
      page.slice(0, 3).map((c) => c.call_key),
      ['call-1', 'call-2', 'call-3'],
    );
    const plan = plans.find((p) => p.includes('FROM tool_calls'));
    assert.ok(plan, `the list's plan was reported: ${plans.join('\n---\n')}`);
    assert.match(plan, /Index Scan using tool_calls_listing on tool_calls/, plan);
    assert.doesNotMatch(plan, /Sort Key: c\.first_position/, plan);
  });

  it('a vacuum clears claimed queries out of the claim index even when they are few; ANALYZE skips the JSON columns (migrations/0290)', async () => {
    // As long as namespaces get in Ark (the bench's are 60 characters): fewer entries a leaf page.
    const ns = `upkeep-${'n'.repeat(50)}`;
    await owner.query(
      `INSERT INTO query_executions (tenant_id, query_id, name, namespace, session_id, user_id, target, input, request, reassign, max_attempts, submitted_at)
       SELECT $1, 'q-' || n, 'q', $2, 's', 'u', '{"type":"agent","name":"a"}', '"hi"', '{}', 'auto', 3, now() + n * interval '1 microsecond'
       FROM generate_series(1, 100000) n`,
      [TENANT, ns],
    );
    // Claimed in order, oldest first, as claims take them: 2,000 rows, in under 2 % of the table's pages.
    await owner.query(
      `UPDATE query_executions SET phase = 'assigned', attempt = 1 WHERE tenant_id = $1 AND query_id IN (SELECT 'q-' || n FROM generate_series(1, 2000) n)`,
      [TENANT],
    );
    const oldestPending = async () => {
      const { rows } = await owner.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT query_id, submitted_at, name FROM query_executions WHERE tenant_id = $1 AND phase = 'pending' AND namespace = $2
         ORDER BY submitted_at, query_id LIMIT 1`,
        [TENANT, ns],
      );
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /query_executions_claim_order/, plan);
      return Number(/Buffers: shared hit=(\d+)/.exec(plan)?.[1] ?? 0) + Number(/read=(\d+)/.exec(plan)?.[1] ?? 0);
    };
    await oldestPending(); // marks the dead entries, as the first claim after them does
    const before = await oldestPending();
    assert.ok(before > 20, `the claimed entries are still in the index before a vacuum (${before} pages read)`);
    await owner.query('VACUUM query_executions');
    const after = await oldestPending();
    assert.ok(after <= 8, `a vacuum removed them: the first pending entry is a few pages away (${after} pages read)`);

    await owner.query('ANALYZE query_executions');
    const { rows } = await owner.query<{ attname: string }>(`SELECT attname FROM pg_stats WHERE tablename = 'query_executions' ORDER BY 1`);
    const analyzed = rows.map((r) => r.attname);
    assert.ok(analyzed.includes('namespace') && analyzed.includes('phase'), analyzed.join(', '));
    for (const json of ['target', 'input', 'request']) assert.ok(!analyzed.includes(json), `${json} has no statistics`);
  });
});

/**
 * A prepared statement's generic plan is made once per connection and kept until something
 * invalidates it: one made while the log was young stayed as the log grew. The feed's, made on
 * 10,000 never-analyzed events, was the sort of a bitmap scan, 310–2,330 ms a page at 60,000 events.
 */
describe('a generic plan made on a young log, after the log grew', () => {
  let logged: PlanLoggingDatabase;
  let owner: pg.Pool;
  let connection: DatabaseConnection;
  let plans: string[];

  before(async () => {
    // What PostgreSQL picks after a statement's fifth call when the generic plan looks no dearer.
    logged = await openPlanLoggingDatabase('events', ['plan_cache_mode = force_generic_plan']);
    ({ owner, connection, plans } = logged);
  });
  after(() => logged?.close());

  const grow = (from: number, count: number) =>
    owner.query(
      `INSERT INTO events (tenant_id, session_id, sequence, type, time, source, data, expires_at)
       SELECT $1, 'session-' || (n / 100), n % 100 + 1, 'span.ended', now(), 'otlp', $4::jsonb, now() + interval '1 day'
         FROM generate_series($2::int, $3::int) n`,
      [TENANT, from, from + count - 1, JSON.stringify({ attributes: 'x'.repeat(300) })],
    );
  const feedPlan = async () => {
    plans.length = 0;
    await new EventLogRepository(connection.db).readFeed(scope, FEED_START, 100);
    const plan = plans.find((p) => p.includes('FROM events'));
    assert.ok(plan, `the feed's plan was reported: ${plans.join('\n---\n')}`);
    return plan.replace(/^duration: \S+ ms/, '');
  };

  it("is made again by the statistics pass's ANALYZE, with the ordered index", async () => {
    await grow(0, 10_000);
    const young = await feedPlan();
    assert.match(young, /tenant_id = \$1/, `a generic plan: ${young}`);
    assert.match(young, /Sort Key: events\.transaction_id, events\.global_position/, young);
    await grow(10_000, 30_000);
    await owner.query('SELECT pg_stat_force_next_flush()');
    assert.equal(await feedPlan(), young, 'the young plan is kept as the log grows');

    await eventually(
      'the pass analyzed events',
      () => new PlannerStatistics(new PlannerStatisticsRepository(connection.db), { intervalSeconds: 0 }, { debug: () => {}, error: () => {} }).analyzeOnce(),
      (tables) => tables.includes('events'),
    );
    const grown = await feedPlan();
    assert.match(grown, /tenant_id = \$1/, `a generic plan: ${grown}`);
    assert.match(grown, /Index Scan using events_tenant_feed on events/, grown);
    assert.doesNotMatch(grown, /Sort Key/, grown);
  });
});
