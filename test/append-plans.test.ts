/**
 * The append's plans on a log that grows under a connection that planned while it was empty. With
 * autovacuum off (this machine) or not yet run, `events` has no statistics; PL/pgSQL keeps a plan per
 * connection, and one made on the empty table used to probe dedupe keys through `events_tenant_feed`:
 * a scan of every event of the tenant per appended row, for as long as the connection lived.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { BROKER_ROLE, type DatabaseConnection, migrate, tenantScope } from '#ark/database';
import type { ArkEvent } from '#ark/event-store';
import { QueryLookups, resolveQueryKeys, type QueryReport } from '../libs/projections/src/query-identity.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { openPlanLoggingDatabase, type PlanLoggingDatabase } from './support/plan-logging-database.js';

const TENANT = 'plans';

const batch = (session: string, keys: string[]) => JSON.stringify(keys.map((dk, i) => ({ i, t: TENANT, s: session, y: 'span.ended', src: 'otlp', dk, d: {} })));

describe('ark_append_events plans as the log grows', () => {
  let database: TestDatabase;
  let owner: pg.Pool;
  let broker: pg.Client;
  const plans: string[] = [];

  before(async () => {
    database = await createTestDatabase();
    owner = new pg.Pool({ connectionString: database.url, max: 1 });
    await migrate(owner);
    // Whatever the server's autovacuum does, this table gets no statistics during the test.
    await owner.query('ALTER TABLE events SET (autovacuum_enabled = false)');
    // No size estimates for the table and its indexes (pg_class: 0 pages, -1 tuples), as a log has
    // before anything analyzed it: the planner then costs every index leading with tenant_id the same
    // for the dedupe probe, and picks the tenant's feed index (seen on a fresh database under load).
    await owner.query('TRUNCATE events');
    broker = new pg.Client({ connectionString: database.url });
    await broker.connect();
    // Every plan of the connection, nested statements included, comes back as a notice.
    await broker.query("LOAD 'auto_explain'");
    await broker.query('SET auto_explain.log_min_duration = 0');
    await broker.query('SET auto_explain.log_nested_statements = on');
    await broker.query('SET auto_explain.log_level = notice');
    await broker.query(`SET role ${BROKER_ROLE}`);
    await broker.query(`SET ark.tenant_ids = '{${TENANT}}'`);
    broker.on('notice', (notice) => plans.push(notice.message ?? ''));
  });
  after(async () => {
    await broker?.end();
    await owner?.end();
    await database?.drop();
  });

  const grow = (from: number, count: number) =>
    owner.query(
      `INSERT INTO events (tenant_id, session_id, sequence, type, time, source, dedupe_key, data, expires_at)
       SELECT $1, 'grown-' || (n / 100), n % 100 + 1, 'span.ended', now(), 'otlp', 'grown-' || n, $4::jsonb, now() + interval '1 day' FROM generate_series($2::int, $3::int) n`,
      // About the size of a span's data, so a hundred events take a few pages, as they do.
      [TENANT, from, from + count - 1, JSON.stringify({ attributes: 'x'.repeat(200) })],
    );

  it('probes dedupe keys by their unique index after the log grew behind a connection that appended to it small', async () => {
    // A young log: a hundred events, no statistics. Every index leading with tenant_id costs the same.
    await grow(0, 100);
    for (let call = 0; call < 8; call++) {
      await broker.query('SELECT * FROM ark_append_events($1::jsonb)', [
        batch(
          `early-${call}`,
          Array.from({ length: 10 }, (_, k) => `k-${call}-${k}`),
        ),
      ]);
    }
    await grow(100, 60_000);

    plans.length = 0;
    const { rows } = await broker.query('SELECT * FROM ark_append_events($1::jsonb)', [batch('late', ['late-a', 'grown-1'])]);
    assert.deepEqual(
      rows.map((r: { duplicate: boolean }) => r.duplicate),
      [false, false],
      'a key is a duplicate only in its own session',
    );
    const probes = plans.filter((plan) => plan.includes('e.dedupe_key = b.dk'));
    assert.ok(probes.length > 0, `the dedupe probe's plan was reported: ${plans.join('\n---\n')}`);
    for (const plan of probes) {
      assert.match(plan, /events_dedupe_key/, plan);
      assert.doesNotMatch(plan, /events_tenant_feed/, plan);
    }
  });
});

/**
 * The projectors' query lookup (resolveQueryKeys) on a `queries` table that grows under a pooled
 * connection that looked queries up while it was young. Prepared, its generic plan was fixed then: a
 * hash join over a scan of `queries` for UIDs and traces, and the tenant-wide `queries_started` index
 * for names, so every span batch read the whole table once it had grown (4 ms a call, up to 600 ms,
 * as the top statement of an OTLP run).
 */
describe("the projectors' query lookup as queries grows", () => {
  let logged: PlanLoggingDatabase;
  let owner: pg.Pool;
  let connection: DatabaseConnection;
  let plans: string[];

  before(async () => {
    // Nested plans too: the lookup runs inside the projectors' statements.
    logged = await openPlanLoggingDatabase('queries', ['auto_explain.log_nested_statements = on']);
    ({ owner, connection, plans } = logged);
  });
  after(() => logged?.close());

  const grow = (from: number, count: number) =>
    owner.query(
      `INSERT INTO queries (tenant_id, query_key, query_id, query_name, trace_id, session_id, session_rank, started_at, last_event_at, event_count, first_position)
       SELECT $1, 'key-' || n, 'uid-' || n, 'name-' || n, 'trace-' || n, 'session-' || (n / 10), n % 10 + 1, now(), now(), 1, n
         FROM generate_series($2::int, $3::int) n`,
      [TENANT, from, from + count - 1],
    );
  const report = (n: number): QueryReport => ({
    tenantId: TENANT,
    sessionId: `session-${Math.floor(n / 10)}`,
    queryId: `uid-${n}`,
    queryName: `name-${n}`,
    namespace: null,
    traceId: `trace-${n}`,
    source: 'operation-event',
    type: 'query.started',
    data: {},
    globalPosition: n,
  });
  const lookUp = (reports: QueryReport[]) => tenantScope.run([TENANT], () => connection.db.transaction().execute((trx) => resolveQueryKeys(trx, reports)));

  it('probes the name, UID and trace indexes after the table grew', async () => {
    // A young table: a few hundred queries, no statistics, a few pages; span batches name fifty
    // queries and traces each, with no UIDs (spans carry none).
    await grow(0, 300);
    const spans = (call: number) => Array.from({ length: 50 }, (_, i) => ({ ...report(call * 50 + i), queryId: null }));
    for (let call = 0; call < 8; call++) await lookUp(spans(call));
    await grow(300, 30_000);

    plans.length = 0;
    const keys = await lookUp([report(20_000), report(40_000)]);
    assert.equal(keys.of(report(20_000) as ArkEvent), 'key-20000', 'a known query is found by its name in its session');
    assert.equal(keys.of(report(40_000) as ArkEvent), 'uid-40000', 'an unknown one is keyed by its UID');
    const lookups = plans.filter((plan) => plan.includes("SELECT 'n' AS probe"));
    assert.ok(lookups.length > 0, `the lookup's plan was reported: ${plans.join('\n---\n')}`);
    for (const plan of lookups) {
      // A name is probed within its session (queries_query_name or queries_session), never across the tenant.
      assert.match(plan, /Index Cond: \(\(tenant_id = k\.t\) AND \((query_name = k\.n\) AND \(session_id = k\.s|session_id = k\.s)\)/, plan);
      assert.match(plan, /queries_query_id/, plan);
      assert.match(plan, /queries_trace/, plan);
      assert.doesNotMatch(plan, /Seq Scan on queries|queries_started/, plan);
    }
  });

  it('reads each key once in a transaction: the second resolution of an append reuses the first', async () => {
    const byName = (n: number): QueryReport => ({ ...report(n), queryId: null, traceId: null });
    await tenantScope.run([TENANT], () =>
      connection.db.transaction().execute(async (trx) => {
        const lookups = new QueryLookups();
        const first = await resolveQueryKeys(trx, [byName(100), report(200)], lookups);
        assert.equal(first.of(byName(100) as ArkEvent), 'key-100');
        // A newer run of name-100 in its session, written after the first look-up. The projector of an
        // append reuses WorkSteps' rows (nothing writes queries between them): it does not read again.
        await sql`INSERT INTO queries (tenant_id, query_key, query_name, session_id, session_rank, started_at, last_event_at, event_count, first_position)
                  VALUES (${TENANT}, 'key-newer', 'name-100', 'session-10', 1, now(), now(), 1, 1000000)`.execute(trx);
        const again = await resolveQueryKeys(trx, [report(200), byName(100)], lookups);
        assert.equal(again.of(byName(100) as ArkEvent), 'key-100', 'a name already looked up is answered from the first look-up');
        const fresh = await resolveQueryKeys(trx, [byName(100)], new QueryLookups());
        assert.equal(fresh.of(byName(100) as ArkEvent), 'key-newer', 'a fresh resolution reads the table');
        await sql`DELETE FROM queries WHERE tenant_id = ${TENANT} AND query_key = 'key-newer'`.execute(trx);
      }),
    );
  });
});
