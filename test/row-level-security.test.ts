import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import { createPool, DatabaseConnection, migrate, tenantScope } from '#ark/database';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

describe('PostgreSQL row-level security', () => {
  let broker: TestBroker;
  let connection: DatabaseConnection;
  before(async () => {
    broker = await startTestBroker();
    for (const tenant of ['rls-a', 'rls-b']) {
      await broker.sql.query(`INSERT INTO api_keys (id, tenant_id, name, roles, secret_hash) VALUES ($1, $2, 'k', '{producer}', $3)`, [
        `key-${tenant}`,
        tenant,
        createHash('sha256').update('s3cret').digest('hex'),
      ]);
    }
    // Events of two tenants, written through the broker's own writer (one batch may hold both).
    assert.equal((await postJson(`${broker.url}/v2/events`, { sessionId: 's1', type: 'custom.a', data: {} })).status, 201);
    connection = new DatabaseConnection({ url: broker.database.url, poolSize: 2 });
    await broker.sql.query(`INSERT INTO event_streams (tenant_id, session_id, last_sequence) VALUES ('rls-a', 's', 1), ('rls-b', 's', 1)`);
  });
  after(async () => {
    await connection.close();
    await broker.close();
  });

  it('runs the broker as a role that owns no table and does not bypass RLS', async () => {
    const { rows } = await sql<{ user: string }>`SELECT current_user AS user`.execute(connection.db);
    assert.equal(rows[0]!.user, 'ark_broker_app');
    const role = await broker.sql.query(`SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = 'ark_broker_app'`);
    assert.deepEqual(role.rows[0], { rolsuper: false, rolbypassrls: false, rolcanlogin: false });
    const owned = await broker.sql.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tableowner = 'ark_broker_app'`);
    assert.equal(owned.rows[0].n, 0);
  });

  it('has a policy on every table with a tenant_id (a new table needs `ENABLE ROW LEVEL SECURITY` and a tenant_isolation policy)', async () => {
    const { rows } = await broker.sql.query<{ table: string }>(`
      SELECT c.relname AS table FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
      WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))`);
    assert.deepEqual(rows, []);
    // One policy text everywhere: a policy the planner can use as an index condition (plain
    // `tenant_id = ANY (...)`) made it scan whole tenants (migrations/0050).
    const policies = await broker.sql.query<{ table: string; qual: string }>(`
      SELECT polrelid::regclass::text AS table, pg_get_expr(polqual, polrelid) AS qual FROM pg_policy WHERE polname = 'tenant_isolation'`);
    assert.ok(policies.rows.length >= 10);
    for (const policy of policies.rows) {
      assert.match(policy.qual, /^\(\(tenant_id \|\| ''::text\) = ANY \(\(\s*SELECT ark_tenant_ids\(\)/, policy.table);
    }
  });

  it('plans a lookup by session as an index probe, not a scan of the tenant, without statistics', async () => {
    await broker.sql.query(`
      INSERT INTO events (tenant_id, session_id, sequence, type, time, source, data, expires_at)
      SELECT 'rls-a', 'plan-' || (g / 100), g % 100 + 1, 'custom.plan', now(), 'api', '{}', 'infinity' FROM generate_series(0, 19999) g`);
    const plan = await tenantScope.run(['rls-a'], () =>
      sql<{ 'QUERY PLAN': string }>`EXPLAIN SELECT count(*) FROM events WHERE tenant_id = 'rls-a' AND session_id = 'plan-7'`.execute(connection.db),
    );
    const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
    assert.match(text, /Index Cond: \(\(tenant_id = 'rls-a'::text\) AND \(session_id = 'plan-7'::text\)\)/, text);
  });

  it('shows no tenant row to a query without the tenant setting', async () => {
    const all = await broker.sql.query(`SELECT count(*)::int AS n FROM event_streams`);
    assert.ok(all.rows[0].n >= 3);
    const streams = await connection.db.selectFrom('event_streams').selectAll().execute();
    assert.deepEqual(streams, []);
    const events = await connection.db.selectFrom('events').selectAll().execute();
    assert.deepEqual(events, []);
    // The same through plain SQL as the role, outside any transaction setting.
    const client = new pg.Client({ connectionString: broker.database.url });
    await client.connect();
    try {
      await client.query('SET ROLE ark_broker_app');
      assert.equal((await client.query('SELECT count(*)::int AS n FROM event_streams')).rows[0].n, 0);
      assert.equal((await client.query('SELECT count(*)::int AS n FROM sessions')).rows[0].n, 0);
    } finally {
      await client.end();
    }
  });

  it("lets a read in tenant A's scope see A's rows and none of B's", async () => {
    const rows = await tenantScope.run(['rls-a'], () => connection.db.selectFrom('event_streams').select(['tenant_id']).execute());
    assert.deepEqual(rows, [{ tenant_id: 'rls-a' }]);
    const both = await tenantScope.run(['rls-a', 'rls-b'], () =>
      connection.db.selectFrom('event_streams').select(['tenant_id']).orderBy('tenant_id').execute(),
    );
    assert.deepEqual(
      both.map((r) => r.tenant_id),
      ['rls-a', 'rls-b'],
    );
    const local = await tenantScope.run(['default'], () => connection.db.selectFrom('events').select(['session_id']).execute());
    assert.deepEqual(local, [{ session_id: 's1' }]);
    // Even a tenant id that quotes like an array literal stays one tenant.
    const odd = await tenantScope.run(['rls-a","rls-b'], () => connection.db.selectFrom('event_streams').selectAll().execute());
    assert.deepEqual(odd, []);
  });

  it('never lets a pooled connection carry one scope into the next statement', async () => {
    const single = new DatabaseConnection({ url: broker.database.url, poolSize: 1 });
    const streams = () => single.db.selectFrom('event_streams').select(['tenant_id']).orderBy('tenant_id').execute();
    try {
      assert.deepEqual(await tenantScope.run(['rls-a'], streams), [{ tenant_id: 'rls-a' }]);
      assert.deepEqual(await streams(), []);
      assert.deepEqual(await tenantScope.run(['rls-b'], streams), [{ tenant_id: 'rls-b' }]);
      assert.deepEqual(await tenantScope.run(['rls-b'], streams), [{ tenant_id: 'rls-b' }]);
      // A transaction's own setting ends with it; the next statement has its own scope again.
      await tenantScope.run(['rls-a'], () => single.db.transaction().execute((trx) => trx.selectFrom('event_streams').selectAll().execute()));
      assert.deepEqual(await tenantScope.run(['rls-b'], streams), [{ tenant_id: 'rls-b' }]);
      await tenantScope.run(['rls-a'], () => single.db.transaction().execute((trx) => trx.selectFrom('event_streams').selectAll().execute()));
      assert.deepEqual(await streams(), []);
    } finally {
      await single.close();
    }
  });

  it('applies to the analytics views as to their tables (security_invoker)', async () => {
    await broker.sql.query(`
      INSERT INTO queries (tenant_id, query_key, session_id, session_rank, started_at, last_event_at, event_count, first_position)
      VALUES ('rls-a', 'qa', 's', 1, now(), now(), 1, 1), ('rls-b', 'qb', 's', 1, now(), now(), 1, 2)`);
    const tenantsOf = (rows: { tenant_id: string }[]) => [...new Set(rows.map((r) => r.tenant_id))].sort();
    const owner = await broker.sql.query<{ tenant_id: string }>(`SELECT tenant_id FROM analytics_sessions_per_day WHERE tenant_id LIKE 'rls-%'`);
    assert.deepEqual(tenantsOf(owner.rows), ['rls-a', 'rls-b']);
    const scoped = await tenantScope.run(['rls-a'], () => sql<{ tenant_id: string }>`SELECT tenant_id FROM analytics_sessions_per_day`.execute(connection.db));
    assert.deepEqual(tenantsOf(scoped.rows), ['rls-a']);
    const unscoped = await sql<{ tenant_id: string }>`SELECT tenant_id FROM analytics_error_rates`.execute(connection.db);
    assert.deepEqual(unscoped.rows, []);
    // session_summaries, and the function behind it, read `queries` with the caller's rights too.
    await broker.sql.query(`
      INSERT INTO sessions (tenant_id, session_id, first_activity_at, last_activity_at, event_count, last_sequence)
      VALUES ('rls-a', 's', now(), now(), 1, 1), ('rls-b', 's', now(), now(), 1, 1)`);
    const summaries = () => sql<{ tenant_id: string; query_count: number }>`SELECT tenant_id, query_count FROM session_summaries`.execute(connection.db);
    assert.deepEqual((await tenantScope.run(['rls-a'], summaries)).rows, [{ tenant_id: 'rls-a', query_count: 1 }]);
    assert.deepEqual((await summaries()).rows, []);
    const work = await tenantScope.run(['rls-a'], () =>
      sql<{ query_count: number }>`SELECT query_count FROM ark_session_work('rls-b', 's')`.execute(connection.db),
    );
    assert.deepEqual(work.rows, [{ query_count: 0 }]);
  });

  it("searches (owner-rights functions, for the trigram indexes) answer only for the caller's tenants", async () => {
    await broker.sql.query(`
      INSERT INTO sessions (tenant_id, session_id, first_activity_at, last_activity_at, event_count, last_sequence)
      VALUES ('rls-b', 'findme-b', now(), now(), 1, 1)`);
    const search = (fn: string) => sql<{ id: string }>`SELECT ${sql.raw(fn)}('rls-b', '%findme%') AS id`.execute(connection.db);
    for (const fn of ['ark_sessions_search', 'ark_upstream_sessions_search']) {
      assert.deepEqual((await tenantScope.run(['rls-a'], () => search(fn))).rows, [], fn);
      assert.deepEqual((await search(fn)).rows, [], fn);
      assert.deepEqual((await tenantScope.run(['rls-b'], () => search(fn))).rows, [{ id: 'findme-b' }], fn);
    }
    await broker.sql.query(`
      INSERT INTO sessions (tenant_id, session_id, first_activity_at, last_activity_at, event_count, last_sequence)
      VALUES ('rls-b', 'spans-b', '2020-01-01Z', '2020-01-03Z', 2, 2)`);
    const spanning = () => sql<{ id: string }>`SELECT ark_sessions_spanning('rls-b', '2020-01-02Z') AS id`.execute(connection.db);
    assert.deepEqual((await tenantScope.run(['rls-a'], spanning)).rows, [], 'ark_sessions_spanning, another tenant');
    assert.deepEqual((await spanning()).rows, [], 'ark_sessions_spanning, no scope');
    assert.deepEqual((await tenantScope.run(['rls-b'], spanning)).rows, [{ id: 'spans-b' }], 'ark_sessions_spanning, own tenant');
  });

  it("refuses to write a row of a tenant outside the transaction's scope", async () => {
    await assert.rejects(
      tenantScope.run(['rls-a'], () =>
        connection.db.insertInto('event_streams').values({ tenant_id: 'rls-b', session_id: 'forged', last_sequence: 1 }).execute(),
      ),
      /row-level security/,
    );
    const updated = await tenantScope.run(['rls-a'], () =>
      connection.db.updateTable('event_streams').set({ last_sequence: 99 }).where('tenant_id', '=', 'rls-b').executeTakeFirst(),
    );
    assert.equal(updated.numUpdatedRows, 0n);
  });

  it('finds an API key by id and secret before its tenant is known, and reads nothing else of api_keys', async () => {
    const secretHash = createHash('sha256').update('s3cret').digest('hex');
    const found = await sql<{ tenant_id: string }>`SELECT * FROM ark_api_key('key-rls-b', ${secretHash})`.execute(connection.db);
    assert.deepEqual(found.rows, [{ id: 'key-rls-b', tenant_id: 'rls-b', roles: ['producer'], namespaces: null }]);
    const wrong = await sql`SELECT * FROM ark_api_key('key-rls-b', ${'0'.repeat(64)})`.execute(connection.db);
    assert.deepEqual(wrong.rows, [], 'the id alone finds nothing');
    // Not even in the key's own tenant: the broker's role has no privilege on the table.
    await assert.rejects(
      tenantScope.run(['rls-b'], () => connection.db.selectFrom('api_keys').selectAll().execute()),
      /permission denied/,
    );
  });

  it('migrates again, and in many databases at once, without failing on the shared role', async () => {
    const created = await Promise.all(
      Array.from({ length: 4 }, async (_, i) => {
        const name = `${new URL(broker.database.url).pathname.slice(1)}_m${i}`;
        await broker.sql.query(`CREATE DATABASE ${name}`);
        const url = new URL(broker.database.url);
        url.pathname = `/${name}`;
        return { name, url: url.toString() };
      }),
    );
    try {
      await Promise.all(
        created.map(async ({ url }) => {
          // createPool listens for 'error': pool.end() resolves before the backend has gone, so
          // the DROP ... WITH (FORCE) below may still signal it, which a bare pg.Pool throws.
          const pool = createPool({ connectionString: url, max: 1 });
          try {
            await migrate(pool);
          } finally {
            await pool.end();
          }
        }),
      );
    } finally {
      for (const { name } of created) await broker.sql.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
