import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { createPool, migrate, readMigrations, withRootCertificate } from '#ark/database';
import { InvalidConfigError, loadBrokerConfig } from '#ark/config';
import { CLI, runCli } from './support/cli.js';
import { createTestDatabase } from './support/test-database.js';
import { getJson, postJson } from './support/test-broker.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function waitReady(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(`${url}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready in ${timeoutMs} ms`);
}

describe('configuration', () => {
  it('names every bad value in one clear error', () => {
    assert.throws(
      () => loadBrokerConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', APPEND_MAX_IN_FLIGHT: '0', AUTH_MODE: 'magic' }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidConfigError);
        assert.equal(error.problems.length, 4);
        assert.match(error.message, /PORT="eighty": .*integer/);
        assert.match(error.message, /DATABASE_URL="mysql:\/\/x": must be a postgres/);
        assert.match(error.message, /APPEND_MAX_IN_FLIGHT="0"/);
        assert.match(error.message, /AUTH_MODE="magic"/);
        return true;
      },
    );
    const defaults = loadBrokerConfig({});
    assert.equal(defaults.PORT, 8080);
    assert.equal(defaults.DATABASE_URL, undefined);
    assert.equal(loadBrokerConfig({ PORT: '9000', MIGRATE_ON_START: 'false' }).MIGRATE_ON_START, false);
  });

  it('`serve` exits non-zero with the message when configuration is bad', async () => {
    const result = await runCli(['serve'], { PORT: '-1', DATABASE_URL: 'postgres://127.0.0.1:1/none' });
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /Invalid configuration:[\s\S]*PORT="-1"/);
  });
});

/** `ark-broker serve` on a fresh database and port, its stdout gathered in `out`; `close` kills it and drops the database. */
async function spawnServe(env: Record<string, string>) {
  const database = await createTestDatabase();
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const served = {
    child,
    url: `http://127.0.0.1:${port}`,
    out: '',
    exited: new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    close: async () => {
      child.kill('SIGKILL');
      await database.drop();
    },
  };
  child.stdout.on('data', (d: Buffer) => (served.out += d.toString()));
  return served;
}

describe('LOG_FORMAT=json', () => {
  it('writes one JSON object per line, with level, context and message', async () => {
    const served = await spawnServe({ LOG_FORMAT: 'json' });
    try {
      await waitReady(served.url, 60_000);
      served.child.kill('SIGTERM');
      assert.equal((await served.exited).code, 0);
      const lines = served.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { level: string; msg: string; context?: string; service: string; time: string });
      const listening = lines.find((l) => l.msg.startsWith('listening on'));
      assert.ok(listening, served.out);
      assert.equal(listening.context, 'Broker');
      assert.equal(listening.service, 'ark-broker');
      assert.equal(listening.level, 'info', 'levels by name');
      assert.match(listening.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO-8601 times');
      assert.ok(
        lines.some((l) => l.level === 'warn' && /AUTH_MODE=none/.test(l.msg)),
        'the no-auth warning is a warn-level line',
      );
    } finally {
      await served.close();
    }
  });
});

describe('a signal during start-up', () => {
  it('is acted on once the broker has started: a graceful shutdown, exit 0, not the default action', async () => {
    const served = await spawnServe({ NO_COLOR: '1' });
    try {
      // The migrations' first line: the broker is starting and not listening yet. Waited for on the
      // stream itself, so the signal is sent while migrations still run.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no migration line in 60 s: ${served.out}`)), 60_000);
        const seen = () => {
          if (!/applying 0001_event_log/.test(served.out)) return;
          clearTimeout(timer);
          served.child.stdout.off('data', seen);
          resolve();
        };
        served.child.stdout.on('data', seen);
        seen();
      });
      served.child.kill('SIGTERM');
      assert.deepEqual(await served.exited, { code: 0, signal: null }, served.out);
      assert.match(served.out, /listening on/);
      assert.match(served.out, /SIGTERM: shutting down/);
    } finally {
      await served.close();
    }
  });
});

describe("upstream 0.1.67–0.1.69's retention settings", () => {
  it('default to 30 days, an hourly reap of 10000 rows a statement', () => {
    const c = loadBrokerConfig({});
    assert.deepEqual(
      [c.MESSAGE_VISIBILITY_TTL_SECONDS, c.EVENT_VISIBILITY_TTL_SECONDS, c.SESSIONS_VISIBILITY_TTL_SECONDS, c.ROW_REAP_INTERVAL_SECONDS, c.ROW_REAP_BATCH_SIZE],
      [2592000, 2592000, 2592000, 3600, 10000],
    );
    assert.equal(loadBrokerConfig({ ROW_REAP_INTERVAL_SECONDS: '0' }).ROW_REAP_INTERVAL_SECONDS, 0);
    assert.throws(() => loadBrokerConfig({ EVENT_VISIBILITY_TTL_SECONDS: '0' }), /EVENT_VISIBILITY_TTL_SECONDS="0"/);
    assert.throws(() => loadBrokerConfig({ ROW_REAP_BATCH_SIZE: '0' }), /ROW_REAP_BATCH_SIZE="0"/);
  });

  it('a session TTL shorter than the message or event TTL: `serve` refuses to start, naming SESSIONS_VISIBILITY_TTL_SECONDS', async () => {
    assert.throws(
      () => loadBrokerConfig({ SESSIONS_VISIBILITY_TTL_SECONDS: '60', MESSAGE_VISIBILITY_TTL_SECONDS: '120', EVENT_VISIBILITY_TTL_SECONDS: '30' }),
      (error: unknown) => error instanceof InvalidConfigError && /^SESSIONS_VISIBILITY_TTL_SECONDS=60: .*\(120\)/.test(error.problems[0]!),
    );
    assert.doesNotThrow(() =>
      loadBrokerConfig({ SESSIONS_VISIBILITY_TTL_SECONDS: '120', MESSAGE_VISIBILITY_TTL_SECONDS: '120', EVENT_VISIBILITY_TTL_SECONDS: '30' }),
    );
    const result = await runCli(['serve'], {
      EVENT_VISIBILITY_TTL_SECONDS: '7200',
      SESSIONS_VISIBILITY_TTL_SECONDS: '3600',
      DATABASE_URL: 'postgres://127.0.0.1:1/none',
    });
    assert.equal(result.code, 1);
    assert.match(result.stdout + result.stderr, /Invalid configuration:[\s\S]*SESSIONS_VISIBILITY_TTL_SECONDS=3600/);
  });
});

describe('DATABASE_SSL_ROOT_CERT_PATH', () => {
  it("names a CA for every connection: verify-full unless the URL says otherwise, the URL's own sslrootcert kept", async () => {
    assert.equal(withRootCertificate('postgres://u@db/ark', undefined), 'postgres://u@db/ark');
    assert.equal(
      withRootCertificate('postgres://u@db/ark', '/etc/pg-ssl/ca.crt'),
      'postgres://u@db/ark?sslrootcert=%2Fetc%2Fpg-ssl%2Fca.crt&sslmode=verify-full',
    );
    assert.equal(withRootCertificate('postgres://u@db/ark?sslmode=verify-ca', '/ca'), 'postgres://u@db/ark?sslmode=verify-ca&sslrootcert=%2Fca');
    assert.equal(withRootCertificate('postgres://u@db/ark?sslrootcert=/mine', '/ca'), 'postgres://u@db/ark?sslrootcert=/mine');
    // The CLI reads it: the CA file is opened (and the test server, without TLS, would be refused next).
    const database = await createTestDatabase();
    try {
      const result = await runCli(['migrate', 'status'], { DATABASE_URL: database.url, DATABASE_SSL_ROOT_CERT_PATH: '/nonexistent/ark-ca.crt' });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /ENOENT.*\/nonexistent\/ark-ca\.crt/);
    } finally {
      await database.drop();
    }
  });
});

describe('migrations', () => {
  it('replicas migrating at once apply each migration exactly once', async () => {
    const database = await createTestDatabase();
    const pools = Array.from({ length: 4 }, () => createPool({ connectionString: database.url, max: 1 }));
    try {
      const files = await readMigrations();
      assert.ok(files.length >= 3);
      const reports = await Promise.all(pools.map((pool) => migrate(pool)));
      const applied = reports.flatMap((r) => r.applied).sort();
      assert.deepEqual(
        applied,
        files.map((f) => `${f.version}_${f.name}`),
      );
      const { rows } = await pools[0]!.query('SELECT version FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows.map((r: { version: string }) => r.version),
        files.map((f) => f.version),
      );
      const again = await runCli(['migrate'], { DATABASE_URL: database.url });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /nothing to apply/);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await database.drop();
    }
  });
});

describe('`ark-broker serve` with no DATABASE_URL', () => {
  it('starts embedded PostgreSQL, serves, and keeps the data across a restart', async () => {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-serve-'));
    const port = await freePort();
    const env = {
      ...process.env,
      DATABASE_URL: '',
      PORT: String(port),
      HOST: '127.0.0.1',
      EMBEDDED_PG_DIR: path.join(scratch, 'postgres'),
      EMBEDDED_PG_PORT: String(await freePort()),
      LOG_LEVEL: 'warn',
    };
    const url = `http://127.0.0.1:${port}`;
    const start = () => spawn(process.execPath, [CLI, 'serve'], { env, stdio: 'ignore' });
    const stop = (child: ReturnType<typeof start>) =>
      new Promise<number | null>((resolve) => {
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      });
    try {
      let broker = start();
      await waitReady(url, 90_000);
      assert.equal((await postJson(`${url}/v2/events`, { sessionId: 'kept', type: 'custom.a', data: { n: 1 } })).status, 201);
      assert.equal(await stop(broker), 0, 'clean exit on SIGTERM');

      broker = start();
      await waitReady(url, 60_000);
      const page = await getJson(`${url}/v2/sessions/kept/events`);
      assert.deepEqual(
        page.body.items.map((e: { data: { n: number } }) => e.data.n),
        [1],
      );
      assert.equal(await stop(broker), 0);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
