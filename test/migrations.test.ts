import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPool, defaultMigrationsDir, migrate, MigrationTimeoutError, readMigrations } from '#ark/database';
import { CLI, runCli } from './support/cli.js';
import { freePort } from './support/broker-process.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const LOG_EVENTS = 1_000_000;
/** A test-only migration, after every real one: a concurrent build of a wide index on the whole log. */
const CONCURRENT_FILE = '9001_test_concurrent_index.sql';
const CONCURRENT_SQL = `-- no-transaction
-- A wide index over the whole log, so its build takes long enough to append during it.
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_test_wide ON events (tenant_id, type, session_id, recorded_at, sequence);
`;
const TRANSACTIONAL_FILE = '9002_test_plain_index.sql';
const TRANSACTIONAL_SQL = `CREATE INDEX events_test_plain ON events (recorded_at, sequence);\n`;

/** The same migration set plus `extra` files, in a scratch folder. */
async function migrationsWith(scratch: string, name: string, extra: Record<string, string>): Promise<string> {
  const dir = path.join(scratch, name);
  await cp(defaultMigrationsDir(), dir, { recursive: true });
  for (const [file, sql] of Object.entries(extra)) await writeFile(path.join(dir, file), sql);
  return dir;
}

describe('migrations safe on a large log', () => {
  let scratch: string;
  let broker: TestBroker;
  /** The broker's own appends (POST /v2/events), one after another, each timed. */
  const appendFor = async (ms: number, label: string) => {
    const latencies: { start: number; end: number; status: number }[] = [];
    const until = Date.now() + ms;
    for (let i = 0; Date.now() < until; i++) {
      const start = Date.now();
      const response = await postJson(`${broker.url}/v2/events`, { sessionId: `during-${label}`, type: 'custom.during', data: { i } });
      latencies.push({ start, end: Date.now(), status: response.status });
    }
    return latencies;
  };

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-migrations-test-'));
    broker = await startTestBroker();
    // A million events, written straight into the log (the broker's append path would take minutes here).
    await broker.sql.query(
      `INSERT INTO events (tenant_id, session_id, sequence, type, time, source, data, expires_at)
       SELECT 'default', 'bulk-' || (g / 1000), g % 1000 + 1, 'custom.bulk', now(), 'api', jsonb_build_object('n', g), now() + interval '1 day'
         FROM generate_series(0, $1::int - 1) g`,
      [LOG_EVENTS],
    );
    await broker.sql.query('ANALYZE events');
  });
  after(async () => {
    await broker.close();
    await rm(scratch, { recursive: true, force: true });
  });

  it('a -- no-transaction migration builds its index CONCURRENTLY on a million-event log while appends go on; a cancelled build is rebuilt', async () => {
    const dir = await migrationsWith(scratch, 'concurrent', { [CONCURRENT_FILE]: CONCURRENT_SQL });
    const files = await readMigrations(dir);
    assert.equal(files.at(-1)!.statements?.length, 1);
    const pool = createPool({ connectionString: broker.database.url, max: 1, applicationName: 'test-migrator' });
    // A writer that stays open: the concurrent build waits for it, so a run with a deadline is cut
    // off inside the build however fast or loaded the machine is.
    const writer = new pg.Client({ connectionString: broker.database.url });
    await writer.connect();
    try {
      // A run with too little time: the build is cancelled, leaving an invalid index and no record.
      // Into today's partition itself, which locks only that partition: the index's ON ONLY step on
      // `events` goes through and the build is cut off on that partition.
      const { rows: today } = await broker.sql.query<{ part: string }>(
        `SELECT p.name AS part FROM ark_event_partitions() p WHERE now() >= p.lower_bound AND now() < p.upper_bound`,
      );
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO ${today[0]!.part} (tenant_id, session_id, sequence, global_position, type, time, source, data, expires_at)
         VALUES ('default', 'open-writer-concurrent', 1, nextval('events_global_position_seq'), 'custom.x', now(), 'api', '{}', now() + interval '1 day')`,
      );
      await assert.rejects(migrate(pool, dir, { timeoutMs: 3_000 }), (error: unknown) => {
        assert.ok(error instanceof MigrationTimeoutError, String(error));
        assert.match(error.message, /9001_test_concurrent_index did not finish within the 3000 ms allowed \(a half-built index is dropped and rebuilt/);
        return true;
      });
      await writer.query('COMMIT');
      const leftover = await broker.sql.query(`SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = 'events_test_wide'::regclass`);
      assert.deepEqual(leftover.rows, [{ indisvalid: false }], 'the cancelled build left an invalid index');
      assert.equal((await broker.sql.query(`SELECT 1 FROM schema_migrations WHERE version = '9001'`)).rowCount, 0);

      // The real run, with appends going on and the build's progress watched from another connection.
      const phases = new Set<string>();
      const building: { start: number; end: number }[] = [];
      let done = false;
      const lines: string[] = [];
      const migration = migrate(pool, dir, { log: (line) => lines.push(line), progressEveryMs: 100 }).finally(() => (done = true));
      const watcher = (async () => {
        while (!done) {
          const { rows } = await broker.sql.query<{ phase: string }>(
            // `events` is partitioned: the index is built partition by partition (events_test_wide_<partition>).
            `SELECT p.phase FROM pg_stat_progress_create_index p JOIN pg_class c ON c.oid = p.index_relid WHERE c.relname LIKE 'events\\_test\\_wide%'`,
          );
          const now = Date.now();
          if (rows[0]) {
            phases.add(rows[0].phase);
            if (rows[0].phase.startsWith('building index')) {
              const last = building.at(-1);
              if (last && now - last.end < 100) last.end = now;
              else building.push({ start: now, end: now });
            }
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const appends: { start: number; end: number; status: number }[] = [];
      while (!done) appends.push(...(await appendFor(100, 'concurrent')));
      const report = await migration;
      await watcher;

      assert.deepEqual(report.applied, ['9001_test_concurrent_index']);
      assert.ok(
        lines.some((l) => /dropping invalid index events_test_wide/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /applied 9001_test_concurrent_index in/.test(l)),
        lines.join('\n'),
      );
      assert.ok(
        lines.some((l) => /^ {2}building index events_test_wide: .+, \d+\/\d+ (blocks|tuples)/.test(l)),
        `progress lines while it builds:\n${lines.join('\n')}`,
      );
      const valid = await broker.sql.query(`SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = 'events_test_wide'::regclass`);
      assert.deepEqual(valid.rows, [{ indisvalid: true }]);
      assert.ok(building.length > 0, `the build was seen (phases: ${[...phases].join(', ')})`);
      assert.ok(
        appends.every((a) => a.status === 201),
        'every append committed',
      );
      const duringBuild = appends.filter((a) => building.some((b) => a.start >= b.start && a.end <= b.end));
      assert.ok(duringBuild.length > 0, `appends committed while the index was being built (${appends.length} appends, build ${JSON.stringify(building)})`);
      const slowest = Math.max(...appends.map((a) => a.end - a.start));
      assert.ok(slowest < 2_000, `no append waited for the build (slowest ${slowest} ms)`);
      assert.deepEqual((await migrate(pool, dir)).applied, [], 'recorded once');
    } finally {
      await writer.end();
      await pool.end();
    }
  });

  it('control: a transactional CREATE INDEX holds appends until it commits', async () => {
    const dir = await migrationsWith(scratch, 'plain', { [CONCURRENT_FILE]: CONCURRENT_SQL, [TRANSACTIONAL_FILE]: TRANSACTIONAL_SQL });
    const pool = createPool({ connectionString: broker.database.url, max: 1 });
    // A writer that has not committed: CREATE INDEX waits for it, and the appends queue behind CREATE INDEX.
    const writer = new pg.Client({ connectionString: broker.database.url });
    await writer.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(
        `INSERT INTO events (tenant_id, session_id, sequence, type, time, source, data, expires_at) VALUES ('default', 'open-writer', 1, 'custom.x', now(), 'api', '{}', now() + interval '1 day')`,
      );
      const migration = migrate(pool, dir);
      await new Promise((r) => setTimeout(r, 300));
      const blocked = postJson(`${broker.url}/v2/events`, { sessionId: 'behind-create-index', type: 'custom.blocked', data: {} });
      const outcome = await Promise.race([blocked.then(() => 'committed'), new Promise((r) => setTimeout(() => r('waiting'), 1_500))]);
      assert.equal(outcome, 'waiting', 'the append waits behind a plain CREATE INDEX');
      await writer.query('COMMIT');
      assert.deepEqual((await migration).applied, ['9002_test_plain_index']);
      assert.equal((await blocked).status, 201);
    } finally {
      await writer.end();
      await pool.end();
    }
  });
});

describe('migration runner rules', () => {
  let scratch: string;
  let database: TestDatabase;
  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-migrations-rules-'));
    database = await createTestDatabase();
  });
  after(async () => {
    await database.drop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('a -- no-transaction file holds only concurrent index statements that are safe to run again', async () => {
    const only = /a -- no-transaction migration holds only CREATE \[UNIQUE\] INDEX CONCURRENTLY IF NOT EXISTS and DROP INDEX CONCURRENTLY IF EXISTS/;
    const cases: [string, RegExp][] = [
      ['-- no-transaction\nCREATE TABLE t (a int);\n', only],
      ['-- no-transaction\nCREATE INDEX CONCURRENTLY events_x ON events (type);\n', only],
      ['-- no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS events_x ON events (type); CREATE TABLE t (a int);\n', /one statement per line-ending ;/],
      ['-- no-transaction\n-- requires: functions/ark_tenant_ids.sql\nDROP INDEX CONCURRENTLY IF EXISTS events_y;\n', /cannot have -- requires/],
    ];
    for (const [i, [sql, message]] of cases.entries()) {
      const dir = await migrationsWith(scratch, `bad-${i}`, { '9003_bad.sql': sql });
      await assert.rejects(readMigrations(dir), message, sql);
    }
    const good = await migrationsWith(scratch, 'good', {
      '9003_good.sql':
        "-- no-transaction\n-- why: ...\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_x ON events (type)\n  WHERE type = 'a;b';\nDROP INDEX CONCURRENTLY IF EXISTS events_y;\n",
    });
    const last = (await readMigrations(good)).at(-1)!;
    assert.deepEqual(
      last.statements?.map((s) => [s.kind, s.index]),
      [
        ['create-index', 'events_x'],
        ['drop-index', 'events_y'],
      ],
    );
  });

  it('a migrator waits for the lock without blocking in it, says who holds it, and gives up at its deadline; so does start-up', async () => {
    const holder = new pg.Client({ connectionString: database.url, application_name: 'the-other-migrator' });
    await holder.connect();
    const pool = createPool({ connectionString: database.url, max: 1 });
    try {
      await holder.query('SELECT pg_advisory_lock(4211202611)');
      const lines: string[] = [];
      const started = Date.now();
      await assert.rejects(migrate(pool, undefined, { timeoutMs: 1_200, log: (l) => lines.push(l) }), (error: unknown) => {
        assert.ok(error instanceof MigrationTimeoutError);
        assert.match(error.message, /another migrator \(pid \d+, the-other-migrator, .*\) held the migration lock for the whole 1200 ms allowed/);
        return true;
      });
      assert.ok(Date.now() - started < 5_000);
      assert.match(lines.join('\n'), /waiting for the migration lock, held by pid \d+, the-other-migrator/);

      // `serve` with a start-up budget exits with an error that says what to do, rather than hang until a probe kills it.
      const port = await freePort();
      const child = spawn(process.execPath, [CLI, 'serve'], {
        env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), HOST: '127.0.0.1', MIGRATE_ON_START_TIMEOUT_MS: '1500', LOG_FORMAT: 'json' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.notEqual(code, 0, output);
      assert.match(
        output,
        /start-up migration stopped: another migrator \(pid \d+, the-other-migrator, idle for \d+ s\) .*MIGRATE_ON_START_TIMEOUT_MS=1500.*`ark-broker migrate`/,
        output,
      );

      await holder.query('SELECT pg_advisory_unlock(4211202611)');
      const report = await migrate(pool, undefined, { timeoutMs: 60_000 });
      assert.ok(report.applied.length > 0);
    } finally {
      await holder.end();
      await pool.end();
    }
  });

  it('`migrate --dry-run` and `migrate status` say what would be applied and change nothing', async () => {
    const fresh = await createTestDatabase();
    try {
      const dry = await runCli(['migrate', '--dry-run'], { DATABASE_URL: fresh.url });
      assert.equal(dry.code, 0, dry.stderr);
      const files = await readMigrations();
      assert.match(dry.stdout, new RegExp(`pending: ${files.length}\\n  0001_event_log\\n`));
      assert.match(dry.stdout, /functions and views to \(re\)apply: functions\/ark_api_key\.sql/);
      const client = new pg.Client({ connectionString: fresh.url });
      await client.connect();
      try {
        const { rows } = await client.query(`SELECT to_regclass('schema_migrations') AS t, to_regclass('events') AS e`);
        assert.deepEqual(rows, [{ t: null, e: null }], 'nothing was created');
      } finally {
        await client.end();
      }
      const applied = await runCli(['migrate'], { DATABASE_URL: fresh.url });
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /applying 0001_event_log\n.*applied 0001_event_log in \d+\.\d s/);
      const status = await runCli(['migrate', 'status'], { DATABASE_URL: fresh.url });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, new RegExp(`applied: ${files.length} migrations, the last ${files.at(-1)!.version}_${files.at(-1)!.name} at `));
      assert.match(status.stdout, /pending: none\nfunctions and views: up to date/);
    } finally {
      await fresh.drop();
    }
  });
});
