import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { loadBrokerConfig } from '#ark/config';
import { createBrokerApp, migrateDatabase, startBroker } from '../apps/broker/src/index.js';
import { runCli } from './support/cli.js';
import { RecordingEventSource } from './support/sse-client.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** The password of the test's login roles: the embedded PostgreSQL asks for one (scram), the machine's trusts local logins. */
const LOGIN_PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

/** The test database's URL with another login user. */
function loginUrl(url: string, user: string): string {
  const login = new URL(url);
  login.username = user;
  login.password = LOGIN_PASSWORD;
  return login.toString();
}

async function connectAs(url: string, user: string): Promise<pg.Client & { notices: string[] }> {
  const client = Object.assign(new pg.Client({ connectionString: loginUrl(url, user) }), { notices: [] as string[] });
  client.on('notice', (notice) => client.notices.push(notice.message ?? ''));
  await client.connect();
  return client;
}

const PERMISSION_DENIED = (error: { code?: string }) => error.code === '42501';

/** A fresh LOGIN role (roles are cluster-wide: unique names, dropped after the file). */
async function createLoginRole(owner: pg.Client, prefix: string, options = ''): Promise<string> {
  const name = `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
  await owner.query(`CREATE ROLE ${name} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '${LOGIN_PASSWORD}' ${options}`);
  return name;
}

describe('database roles: the read-only analyst role', () => {
  let database: TestDatabase;
  let owner: pg.Client;
  let analyst: string;
  let other: string;
  const roles: string[] = [];
  before(async () => {
    database = await createTestDatabase();
    await migrateDatabase(database.url);
    owner = new pg.Client({ connectionString: database.url });
    await owner.connect();
    for (const tenant of ['an-a', 'an-b']) {
      await owner.query(
        `INSERT INTO sessions (tenant_id, session_id, first_activity_at, last_activity_at, event_count, last_sequence) VALUES ($1, 's', now(), now(), 1, 1)`,
        [tenant],
      );
      await owner.query(`INSERT INTO event_streams (tenant_id, session_id, last_sequence) VALUES ($1, 's', 1)`, [tenant]);
      await owner.query(
        `INSERT INTO events (tenant_id, session_id, sequence, type, time, source, data, expires_at) VALUES ($1, 's', 1, 'custom.a', now(), 'api', $2, now() + interval '1 day')`,
        [tenant, { secret: `${tenant}-secret` }],
      );
      await owner.query(
        `INSERT INTO queries (tenant_id, query_key, session_id, session_rank, phase, namespace, started_at, last_event_at, event_count, first_position)
         VALUES ($1, 'q', 's', 1, 'error', 'ns', now(), now(), 1, 1)`,
        [tenant],
      );
      await owner.query(
        `INSERT INTO tool_calls (tenant_id, call_key, query_key, status, tool_name, duration_ms, event_count, first_position) VALUES ($1, 'c', 'q', 'completed', 'search', 5, 1, 1)`,
        [tenant],
      );
      await owner.query(`INSERT INTO api_keys (id, tenant_id, name, roles, secret_hash) VALUES ($1, $2, 'k', '{admin}', $3)`, [
        `key${tenant.replace('-', '')}`,
        tenant,
        createHash('sha256').update('s3cret').digest('hex'),
      ]);
    }
    analyst = await createLoginRole(owner, 'ark_test_analyst');
    other = await createLoginRole(owner, 'ark_test_analyst_b');
    roles.push(analyst, other);
    for (const [role, tenant] of [
      [analyst, 'an-a'],
      [other, 'an-b'],
    ] as const) {
      const granted = await runCli(['analysts', 'grant', role, '--tenant', tenant], { DATABASE_URL: database.url });
      assert.equal(granted.code, 0, granted.stderr);
    }
  });
  after(async () => {
    await owner.end();
    await database.drop();
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    for (const role of roles) await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it('reads the tenants the operator mapped to it, through the analyst_* views', async () => {
    const client = await connectAs(database.url, analyst);
    try {
      assert.deepEqual((await client.query('SELECT tenant_id FROM analyst_allowed_tenants')).rows, [{ tenant_id: 'an-a' }]);
      for (const view of ['analyst_sessions', 'analyst_events', 'analyst_queries', 'analyst_tool_calls', 'analyst_llm_calls', 'analyst_messages']) {
        const { rows } = await client.query(`SELECT DISTINCT tenant_id FROM ${view}`);
        assert.ok(
          rows.every((r) => r.tenant_id === 'an-a'),
          view,
        );
      }
      assert.deepEqual((await client.query('SELECT tenant_id, data FROM analyst_events')).rows, [{ tenant_id: 'an-a', data: { secret: 'an-a-secret' } }]);
      // The analytics_* aggregations, as their analyst_* copies.
      assert.deepEqual((await client.query('SELECT tenant_id, namespace, sessions, queries, failed_queries FROM analyst_sessions_per_day')).rows, [
        { tenant_id: 'an-a', namespace: 'ns', sessions: '1', queries: '1', failed_queries: '1' },
      ]);
      assert.deepEqual((await client.query('SELECT tenant_id, failed, error_rate FROM analyst_error_rates')).rows, [
        { tenant_id: 'an-a', failed: '1', error_rate: '1.0000' },
      ]);
      assert.deepEqual((await client.query('SELECT tenant_id, tool_name, calls, p50_ms FROM analyst_tool_latency')).rows, [
        { tenant_id: 'an-a', tool_name: 'search', calls: '1', p50_ms: 5 },
      ]);
      assert.deepEqual((await client.query('SELECT * FROM analyst_token_usage')).rows, []);
      await assert.rejects(client.query('SELECT * FROM analytics_error_rates'), PERMISSION_DENIED, 'not the broker-role views');
      const b = await connectAs(database.url, other);
      try {
        assert.deepEqual((await b.query('SELECT tenant_id FROM analyst_sessions')).rows, [{ tenant_id: 'an-b' }]);
      } finally {
        await b.end();
      }
    } finally {
      await client.end();
    }
  });

  it('cannot widen its scope: ark.tenant_ids, the mapping, other roles and new objects are out of reach', async () => {
    const client = await connectAs(database.url, analyst);
    try {
      await client.query(`SET ark.tenant_ids = '{an-a,an-b}'`);
      assert.deepEqual((await client.query('SELECT DISTINCT tenant_id FROM analyst_events')).rows, [{ tenant_id: 'an-a' }]);
      await client.query('RESET ark.tenant_ids');
      const attempts = [
        `INSERT INTO analyst_tenants (role_name, tenant_id) VALUES (current_user, 'an-b')`,
        `UPDATE analyst_tenants SET tenant_id = 'an-b'`,
        'SELECT * FROM analyst_tenants',
        `GRANT ark_broker_app TO ${analyst}`,
        'SET ROLE ark_broker_app',
        'CREATE TABLE public.mine (tenant_id text)',
        `CREATE FUNCTION public.ark_tenant_ids(x int) RETURNS text[] LANGUAGE sql AS $$ SELECT '{an-b}'::text[] $$`,
      ];
      for (const statement of attempts) await assert.rejects(client.query(statement), PERMISSION_DENIED, statement);
      assert.deepEqual((await client.query('SELECT tenant_id FROM analyst_allowed_tenants')).rows, [{ tenant_id: 'an-a' }]);
    } finally {
      await client.end();
    }
  });

  it('reads no base table, no API key, and may call no owner-rights function', async () => {
    const client = await connectAs(database.url, analyst);
    try {
      const tables = await owner.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`);
      assert.ok(tables.rows.some((t) => t.name === 'api_keys'));
      for (const { name } of tables.rows) await assert.rejects(client.query(`SELECT 1 FROM ${name} LIMIT 1`), PERMISSION_DENIED, name);
      const definers = await owner.query<{ fn: string; callable: boolean }>(
        `SELECT p.oid::regprocedure::text AS fn, has_function_privilege($1, p.oid, 'EXECUTE') AS callable
         FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prosecdef`,
        [analyst],
      );
      assert.ok(definers.rows.some((f) => f.fn.startsWith('ark_api_key(')));
      assert.deepEqual(
        definers.rows.filter((f) => f.callable),
        [],
      );
      await assert.rejects(client.query(`SELECT * FROM ark_api_key('keyana', 'x')`), PERMISSION_DENIED);
      // The security_invoker views read base tables with the analyst's rights: refused too.
      await assert.rejects(client.query('SELECT * FROM session_summaries'), PERMISSION_DENIED);
    } finally {
      await client.end();
    }
  });

  it('cannot write through the views', async () => {
    const client = await connectAs(database.url, analyst);
    try {
      const writes = [
        `INSERT INTO analyst_events (tenant_id, session_id, sequence, type, time, source, data) VALUES ('an-a', 's', 2, 'custom.x', now(), 'api', '{}')`,
        `UPDATE analyst_events SET data = '{}'`,
        'DELETE FROM analyst_sessions',
        'TRUNCATE events',
      ];
      for (const statement of writes) await assert.rejects(client.query(statement), PERMISSION_DENIED, statement);
      await assert.rejects(client.query(`INSERT INTO analyst_allowed_tenants VALUES ('an-b')`), /cannot insert into view|permission denied/);
      const stored = await owner.query(`SELECT data FROM events WHERE tenant_id = 'an-a'`);
      assert.deepEqual(stored.rows, [{ data: { secret: 'an-a-secret' } }]);
    } finally {
      await client.end();
    }
  });

  it('shows its own functions (a leak through a WHERE clause) only the rows of its tenants (security_barrier)', async () => {
    const client = await connectAs(database.url, analyst);
    try {
      await client.query(`CREATE FUNCTION pg_temp.leak(t text, d jsonb) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
        BEGIN RAISE NOTICE 'saw % %', t, d; RETURN true; END $$`);
      await client.query('SELECT count(*) FROM analyst_events WHERE pg_temp.leak(tenant_id, data)');
      assert.ok(client.notices.length > 0, 'the function ran');
      assert.ok(
        client.notices.every((n) => !n.includes('an-b')),
        client.notices.join('\n'),
      );
    } finally {
      await client.end();
    }
  });

  it('loses a tenant the operator revokes at once', async () => {
    const revoked = await runCli(['analysts', 'revoke', other], { DATABASE_URL: database.url });
    assert.equal(revoked.code, 0, revoked.stderr);
    const listed = await runCli(['analysts', 'list'], { DATABASE_URL: database.url });
    assert.match(listed.stdout, new RegExp(`${analyst}\\tan-a`));
    assert.ok(!listed.stdout.includes(other));
    const b = await connectAs(database.url, other);
    try {
      assert.deepEqual((await b.query('SELECT tenant_id FROM analyst_sessions')).rows, []);
    } finally {
      await b.end();
    }
  });
});

describe("database roles: the broker's login without superuser", () => {
  let database: TestDatabase;
  let login: string;
  let owner: pg.Client;
  before(async () => {
    database = await createTestDatabase();
    await migrateDatabase(database.url);
    owner = new pg.Client({ connectionString: database.url });
    await owner.connect();
    // What `serve` needs: LOGIN and membership in ark_broker_app. Nothing else (README, Database roles).
    login = await createLoginRole(owner, 'ark_test_serve', 'IN ROLE ark_broker_app');
  });
  after(async () => {
    await owner.end();
    await database.drop();
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    await admin.query(`DROP ROLE IF EXISTS ${login}`);
    await admin.end();
  });

  it('serves writes, reads, watches and API keys, and cannot read api_keys or undo its role', async () => {
    const url = loginUrl(database.url, login);
    const config = loadBrokerConfig({ LOG_LEVEL: 'error', DATABASE_URL: url, MIGRATE_ON_START: 'false', AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'x'.repeat(32) });
    const created = await runCli(['keys', 'create', '--tenant', 'tenant-l', '--name', 'ark', '--roles', 'producer,admin'], { DATABASE_URL: database.url });
    assert.equal(created.code, 0, created.stderr);
    const key = /key: (ark_\S+)/.exec(created.stdout)![1]!;
    const app = await createBrokerApp(config, url);
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.getHttpServer().address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    try {
      const post = (type: string) => fetch(`${base}/v2/events`, { method: 'POST', headers, body: JSON.stringify({ sessionId: 'l1', type, data: {} }) });
      const posted = await post('custom.a');
      assert.equal(posted.status, 201, await posted.text());
      const watcher = new RecordingEventSource(`${base}/v2/sessions/l1/events?watch=true`, { authorization: `Bearer ${key}` });
      await watcher.waitFor(1);
      assert.equal((await post('custom.b')).status, 201);
      const frames = await watcher.waitFor(2);
      watcher.close();
      assert.deepEqual(
        frames.map((f) => [f.data.tenantId, f.data.type]),
        [
          ['tenant-l', 'custom.a'],
          ['tenant-l', 'custom.b'],
        ],
      );
      const read = (await (await fetch(`${base}/v2/sessions/l1/events`, { headers })).json()) as { items: unknown[] };
      assert.equal(read.items.length, 2);
      const who = await owner.query(`SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND usename <> current_user`);
      assert.deepEqual(
        who.rows.map((r) => r.usename),
        [login],
        'every broker connection logs in as the unprivileged user',
      );
    } finally {
      await app.close();
    }
    const client = await connectAs(database.url, login);
    try {
      await client.query('SET ROLE ark_broker_app');
      await assert.rejects(client.query(`SELECT * FROM api_keys`), PERMISSION_DENIED);
      const [, id, secret] = /^ark_([a-z0-9]{12})_(.+)$/.exec(key)!;
      const hash = createHash('sha256').update(secret!).digest('hex');
      assert.deepEqual((await client.query(`SELECT * FROM ark_api_key($1, $2)`, [id, hash])).rows, [
        { id, tenant_id: 'tenant-l', roles: ['producer', 'admin'], namespaces: null },
      ]);
      assert.deepEqual((await client.query(`SELECT * FROM ark_api_key($1, $2)`, [id, 'f'.repeat(64)])).rows, [], 'a wrong secret finds nothing');
      await client.query('RESET ROLE');
      for (const statement of ['SET ROLE postgres', 'SELECT * FROM schema_migrations', `GRANT ark_analyst TO ${login}`]) {
        await assert.rejects(client.query(statement), PERMISSION_DENIED, statement);
      }
    } finally {
      await client.end();
    }
  });
});

describe('database roles: start-up migration with the owner, serving without it (MIGRATE_DATABASE_URL)', () => {
  let database: TestDatabase;
  let login: string;
  let admin: pg.Client;
  before(async () => {
    database = await createTestDatabase();
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    // Roles are the server's: the operator makes the serving login a member of ark_broker_app once.
    await admin.query(`DO $$ BEGIN CREATE ROLE ark_broker_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
    login = await createLoginRole(admin, 'ark_test_serve_only', 'IN ROLE ark_broker_app');
  });
  after(async () => {
    await database.drop();
    await admin.query(`DROP ROLE IF EXISTS ${login}`);
    await admin.end();
  });

  it('an unmigrated database: the serving login alone cannot migrate; with the owner URL beside it, start-up migrates and serves as the login', async () => {
    const env = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'error', DATABASE_URL: loginUrl(database.url, login), MIGRATE_ON_START: 'true' };
    await assert.rejects(startBroker(loadBrokerConfig(env)), (error: { code?: string }) => PERMISSION_DENIED(error), 'DDL needs the owner');
    const broker = await startBroker(loadBrokerConfig({ ...env, MIGRATE_DATABASE_URL: database.url }));
    try {
      const posted = await fetch(`${broker.url}/v2/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sessionId: 'm1', type: 'custom.a', data: {} }),
      });
      assert.equal(posted.status, 201, await posted.text());
      const owner = new pg.Client({ connectionString: database.url });
      await owner.connect();
      try {
        const who = await owner.query(`SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND usename <> current_user`);
        assert.deepEqual(
          who.rows.map((r) => r.usename),
          [login],
          'after migrating, every broker connection is the serving login',
        );
        const { rows } = await owner.query(`SELECT count(*)::int AS n FROM events WHERE session_id = 'm1'`);
        assert.equal(rows[0].n, 1);
      } finally {
        await owner.end();
      }
    } finally {
      await broker.close();
    }
  });

  it('refuses MIGRATE_DATABASE_URL without DATABASE_URL', () => {
    assert.throws(() => loadBrokerConfig({ MIGRATE_DATABASE_URL: database.url }), /MIGRATE_DATABASE_URL: needs DATABASE_URL/);
  });
});
