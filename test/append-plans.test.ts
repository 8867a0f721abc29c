/**
 * The append's plans on a log that grows under a connection that planned while it was empty. With
 * autovacuum off (this machine) or not yet run, `events` has no statistics; PL/pgSQL keeps a plan per
 * connection, and one made on the empty table used to probe dedupe keys through `events_tenant_feed`:
 * a scan of every event of the tenant per appended row, for as long as the connection lived.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { BROKER_ROLE, migrate } from '#ark/database';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

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
