import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type pg from 'pg';
import { createPool, defaultMigrationsDir, migrate, readMigrations } from '#ark/database';
import { dumpSchema, SCHEMA_FILE } from '../tools/schema-dump.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** The last commit whose migrations/ held every function and view inside the numbered files (as production applied 0001–0110). */
const NUMBERED_ONLY_COMMIT = '0201b0107ee54b479c810b20046f3491084a5cc0';

async function withDatabase<T>(work: (pool: pg.Pool, database: TestDatabase) => Promise<T>): Promise<T> {
  const database = await createTestDatabase();
  const pool = createPool({ connectionString: database.url, max: 1 });
  try {
    return await work(pool, database);
  } finally {
    await pool.end();
    await database.drop();
  }
}

async function dump(pool: pg.Pool): Promise<string> {
  const client = await pool.connect();
  try {
    return await dumpSchema(client);
  } finally {
    client.release();
  }
}

/**
 * A copy of migrations/ as a database migrated before `version` had it: the numbered files before
 * it, and the repeatable files as they are now, less those that name a table, column or role a
 * left-out file creates (they could not have been applied then; the full set applies them later).
 */
async function migrationsBefore(version: string, dir: string): Promise<string> {
  await cp(defaultMigrationsDir(), dir, { recursive: true });
  const names = new Set<string>();
  for (const f of await readMigrations()) {
    if (f.version < version) continue;
    const file = path.join(dir, `${f.version}_${f.name}.sql`);
    const text = await readFile(file, 'utf8');
    for (const m of text.matchAll(/\b(?:CREATE TABLE|ADD COLUMN|CREATE ROLE)\s+(?:IF NOT EXISTS\s+)?(?:public\.)?"?(\w+)/gi)) names.add(m[1]!.toLowerCase());
    await rm(file);
  }
  for (const folder of ['functions', 'views']) {
    for (const file of await readdir(path.join(dir, folder))) {
      const text = (await readFile(path.join(dir, folder, file), 'utf8')).toLowerCase();
      if ([...names].some((name) => new RegExp(`\\b${name}\\b`).test(text))) await rm(path.join(dir, folder, file));
    }
  }
  return dir;
}

describe('schema', () => {
  let scratch: string;
  let freshDump: string;

  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-schema-test-'));
    freshDump = await withDatabase(async (pool) => {
      await migrate(pool);
      return dump(pool);
    });
  });
  after(async () => rm(scratch, { recursive: true, force: true }));

  it('docs/schema.sql is the schema of a freshly migrated database', async () => {
    const checkedIn = await readFile(SCHEMA_FILE, 'utf8');
    assert.ok(checkedIn === freshDump, 'docs/schema.sql is stale: run `npm run schema:generate` and commit the result');
  });

  it('a database migrated by the numbered-only migration set migrates on to the same schema', async () => {
    const legacy = path.join(scratch, 'legacy');
    const repo = path.dirname(defaultMigrationsDir());
    const archive = path.join(scratch, 'legacy.tar');
    await promisify(execFile)('git', ['-C', repo, 'archive', '--output', archive, NUMBERED_ONLY_COMMIT, 'migrations']);
    await mkdir(legacy);
    await promisify(execFile)('tar', ['-xf', archive, '-C', legacy]);
    await withDatabase(async (pool) => {
      await migrate(pool, path.join(legacy, 'migrations'));
      // The migrator of that commit kept no record of repeatable files.
      await pool.query('DROP TABLE schema_repeatables');
      const report = await migrate(pool);
      assert.ok(report.repeatables.length > 0, 'every repeatable file is applied over the old definitions');
      assert.equal(await dump(pool), freshDump);
      const files = await readMigrations();
      const { rows } = await pool.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version');
      assert.deepEqual(
        rows,
        files.map((f) => ({ version: f.version, checksum: f.checksum })),
        'superseded checksums are recorded as the current ones',
      );
      assert.deepEqual((await migrate(pool)).repeatables, [], 'nothing left to apply');
    });
  });

  it("0130 backfills the session queries' watermarks of a database holding data (the latest operation event or session body of each query)", async () => {
    // Its cost, measured with EXPLAIN ANALYZE: one backward probe of events_pkey per session query, which
    // reads the session's later events until the query's last one (≈ 3 s for 3,000 queries over 300,000
    // events with queries run one after another, 1,450 events read per probe; 2 s for 10,000 queries
    // of 1,000 interleaved sessions): it grows with each query's events after its last one, session by session.
    const before0130 = await migrationsBefore('0130', path.join(scratch, 'before-0130'));
    await withDatabase(async (pool) => {
      await migrate(pool, before0130);
      const event = (sequence: number, source: string, type: string, queryName: string | null, data: object = {}) =>
        pool.query(`INSERT INTO events (tenant_id, session_id, sequence, type, time, query_name, source, data) VALUES ('t', 's1', $1, $2, now(), $3, $4, $5)`, [
          sequence,
          type,
          queryName,
          source,
          JSON.stringify(data),
        ]);
      await event(1, 'operation-event', 'query.started', 'qa');
      await event(2, 'operation-event', 'query.started', 'qb');
      await event(3, 'operation-event', 'query.completed', 'qa');
      await event(4, 'otlp', 'query.completed', 'qb'); // a span: not upstream activity
      await event(5, 'api', 'session.signalled', null, { sessionId: 's1', queryName: 'qb', _reason: 'QueryExecutionStart' });
      await event(6, 'message', 'message.added', 'qa'); // a message: not upstream activity
      const query = (name: string, phase: string, firstSequence: number) =>
        pool.query(
          `INSERT INTO session_queries (tenant_id, session_id, query_name, target_type, phase, created_at, last_activity_at, first_sequence)
           VALUES ('t', 's1', $1, 'agent', $2, now(), now(), $3)`,
          [name, phase, firstSequence],
        );
      await query('qa', 'done', 1);
      await query('qb', 'running', 2);
      await query('qc', 'error', 7); // no event of its own left in the log (e.g. deleted): its first sequence
      const report = await migrate(pool);
      assert.ok(report.applied.includes('0130_session_query_watermarks'), report.applied.join());
      const { rows } = await pool.query('SELECT query_name, last_sequence::int, phase_sequence::int FROM session_queries ORDER BY query_name');
      assert.deepEqual(rows, [
        { query_name: 'qa', last_sequence: 3, phase_sequence: 3 },
        { query_name: 'qb', last_sequence: 5, phase_sequence: 0 },
        { query_name: 'qc', last_sequence: 7, phase_sequence: 7 },
      ]);
    });
  });

  it('0141 swaps the query columns of stored chunks (query_name: the upload path; query_id: ark.query) and leaves other events alone', async () => {
    const before0141 = await migrationsBefore('0141', path.join(scratch, 'before-0141'));
    await withDatabase(async (pool) => {
      await migrate(pool, before0141);
      const event = (sequence: number, source: string, type: string, queryId: string | null, queryName: string | null) =>
        pool.query(
          `INSERT INTO events (tenant_id, session_id, sequence, type, time, query_id, query_name, source, data) VALUES ('t', 's1', $1, $2, now(), $3, $4, $5, '{}')`,
          [sequence, type, queryId, queryName, source],
        );
      // As stored before 0141: a chunk's query_id held the upload path, query_name its ark.query.
      await event(1, 'chunk', 'llm.chunk', 'weather', 'uid-1');
      await event(2, 'chunk', 'llm.chunk', 'weather', null);
      await event(3, 'chunk', 'llm.stream.completed', 'weather', 'uid-1');
      await event(4, 'operation-event', 'query.started', 'uid-1', 'weather');
      assert.ok((await migrate(pool)).applied.includes('0141_chunk_query_columns'));
      const { rows } = await pool.query('SELECT sequence::int, query_id, query_name FROM events ORDER BY sequence');
      assert.deepEqual(rows, [
        { sequence: 1, query_id: 'uid-1', query_name: 'weather' },
        { sequence: 2, query_id: null, query_name: 'weather' },
        { sequence: 3, query_id: 'uid-1', query_name: 'weather' },
        { sequence: 4, query_id: 'uid-1', query_name: 'weather' },
      ]);
    });
  });

  describe('repeatable files', () => {
    let dir: string;
    let copies = 0;
    const edit = async (file: string, change: (sql: string) => string) => writeFile(path.join(dir, file), change(await readFile(path.join(dir, file), 'utf8')));

    beforeEach(async () => {
      dir = path.join(scratch, `edited-${++copies}`);
      await cp(defaultMigrationsDir(), dir, { recursive: true });
    });

    it('are applied again when changed, even where CREATE OR REPLACE cannot (a result type, a view column), with their dependents', async () => {
      await withDatabase(async (pool) => {
        await migrate(pool, dir);
        // ark_session_work gains a column (its result type changes) and session_summaries, which stands on it, shows it.
        await edit('functions/ark_session_work.sql', (s) =>
          s
            .replace('tokens_total bigint\n)', 'tokens_total bigint, work_version integer\n)')
            .replace(/\n {2}FROM queries q\n/, ',\n         2\n  FROM queries q\n'),
        );
        await edit('views/session_summaries.sql', (s) => s.replace('w.tokens_total\n', 'w.tokens_total, w.work_version\n'));
        // A view loses a column.
        await edit('views/analytics_tool_latency.sql', (s) => s.replace(',\n       max(d)                                     AS max_ms', ''));
        const report = await migrate(pool, dir);
        assert.deepEqual(report.applied, []);
        assert.ok(report.repeatables.includes('functions/ark_session_work.sql'), report.repeatables.join());
        assert.ok(report.repeatables.includes('views/session_summaries.sql'), report.repeatables.join());
        const { rows: columns } = await pool.query<{ table_name: string; column_name: string }>(
          `SELECT table_name, column_name FROM information_schema.columns
           WHERE table_name IN ('session_summaries', 'analytics_tool_latency') AND column_name IN ('work_version', 'max_ms')`,
        );
        assert.deepEqual(columns, [{ table_name: 'session_summaries', column_name: 'work_version' }]);
        // Every other view is back, with its grant to the broker's role.
        const { rows: views } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_class c
           WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace AND has_table_privilege('ark_broker_app', c.oid, 'SELECT')`,
        );
        assert.equal(views[0]!.n, 5);
        assert.deepEqual((await migrate(pool, dir)).repeatables, []);
      });
    });

    it('a change that objects outside the repeatable files depend on fails and changes nothing', async () => {
      await withDatabase(async (pool) => {
        await migrate(pool, dir);
        // The tenant policies stand on ark_tenant_ids: its result type cannot change here.
        await edit('functions/ark_tenant_ids.sql', (s) => s.replace('RETURNS text[]', 'RETURNS text').replace("'{}')::text[]", "'{}')::text"));
        await edit('functions/ark_feed_horizon.sql', (s) => s.replace('LANGUAGE plpgsql STABLE', 'LANGUAGE plpgsql STABLE -- changed'));
        await assert.rejects(migrate(pool, dir), /repeatable migration functions\/ark_tenant_ids\.sql failed: .*depend/);
        const { rows } = await pool.query<{ def: string }>(`SELECT pg_get_functiondef('ark_feed_horizon'::regproc) AS def`);
        assert.doesNotMatch(rows[0]!.def, /changed/, 'the run is one transaction');
      });
    });

    it('an applied numbered migration whose checksum is not a listed former one still stops the migrator', async () => {
      await withDatabase(async (pool) => {
        await migrate(pool, dir);
        await edit('0040_read_side_indexes.sql', (s) => `${s}\n-- edited\n`);
        await assert.rejects(migrate(pool, dir), /migration 0040_read_side_indexes changed after it was applied/);
      });
    });
  });
});
