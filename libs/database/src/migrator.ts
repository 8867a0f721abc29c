import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** Arbitrary constant: the session-level advisory lock that serialises migrators across replicas. */
const MIGRATION_LOCK_KEY = 4_211_202_611;
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const REPEATABLE_PATTERN = /^[a-z0-9_]+\.sql$/;
/** Folders of repeatable files, in the order they are applied: views may read functions. */
const REPEATABLE_FOLDERS = ['functions', 'views'] as const;
/** `-- requires: functions/x.sql` in a numbered migration or a repeatable file: that repeatable is applied before it. */
const REQUIRES_PATTERN = /^-- requires: (\S+)$/gm;
/** `-- no-transaction` in a numbered migration: its statements run one by one, outside a transaction (see `migrate`). */
const NO_TRANSACTION_PATTERN = /^-- no-transaction$/m;
/** The only statements a non-transactional migration may hold: each is safe to run again after a failure. */
const CONCURRENT_CREATE =
  /^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+("?)([a-z_][a-z0-9_]*)\1\s+ON\s+(?:public\.)?("?)([a-z_][a-z0-9_]*)\3[\s(]/i;
const CONCURRENT_DROP = /^DROP\s+INDEX\s+CONCURRENTLY\s+IF\s+EXISTS\s+("?)([a-z_][a-z0-9_]*)\1$/i;
/** How often a migrator waiting for another one's lock tries again, and how often it says so. */
const LOCK_POLL_MS = 500;
const LOCK_REPORT_MS = 10_000;
const PROGRESS_REPORT_MS = 10_000;
/** Checksums a numbered file had before it was rewritten, by version (see `migrate`). */
const SUPERSEDED_FILE = 'superseded-checksums.json';
/** What CREATE OR REPLACE refuses (a function's result type, a view's columns): drop and create. */
const NOT_REPLACEABLE = new Set(['42P13', '42P16']);
const DEPENDENT_OBJECTS_STILL_EXIST = '2BP01';

export interface MigrationFile {
  version: string;
  name: string;
  sql: string;
  checksum: string;
  /** Repeatable files this migration needs to exist before it runs. */
  requires: string[];
  /** Set for a `-- no-transaction` file: its statements, each run on its own. */
  statements?: NonTransactionalStatement[];
}

/** A statement of a non-transactional migration: a concurrent index build or drop. */
export interface NonTransactionalStatement {
  sql: string;
  kind: 'create-index' | 'drop-index';
  index: string;
  /** The table a create-index statement builds on. */
  table?: string;
}

export interface MigrateOptions {
  /** Progress lines: the lock wait, each migration as it starts and ends. */
  log?: (line: string) => void;
  /**
   * Milliseconds the whole run may take (0: no limit). Past it the lock wait gives up and the
   * running statement is cancelled (statement_timeout), so a migration at start-up fails with a
   * clear error before the orchestrator's start-up probe kills the process.
   */
  timeoutMs?: number;
  /** How often a concurrent index build reports its progress (pg_stat_progress_create_index); default 10 s. */
  progressEveryMs?: number;
  /** Told how many of the pending migrations are applied, before the first and after each (for a progress bar). */
  onProgress?: (applied: number, pending: number, current: string | undefined) => void;
}

/** The run did not finish within `MigrateOptions.timeoutMs`; what it was doing is rolled back (or, for a concurrent index, left to be rebuilt). */
export class MigrationTimeoutError extends Error {}

/** What `migrate` would do, read without the lock and without changing anything. */
export interface MigrationStatus {
  applied: { version: string; name: string; appliedAt: Date }[];
  /** Numbered migrations not yet applied, in the order they would run. */
  pending: { version: string; name: string; transactional: boolean }[];
  /** Repeatable files new or changed since they were applied. */
  repeatables: string[];
  /** Applied migrations whose file changed (and is no listed former version): `migrate` would stop. */
  changed: string[];
}

/** A function or view: its one live definition, e.g. `functions/ark_append_events.sql`. */
export interface RepeatableFile {
  /** Its path under migrations/, also its key in `schema_repeatables`. */
  name: string;
  kind: 'function' | 'view';
  /** The object it defines: the file's base name. */
  object: string;
  sql: string;
  checksum: string;
  /** Repeatable files applied before it (a view over a view whose name sorts after its own). */
  requires: string[];
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: string[];
  /** Repeatable files (re)applied because they were new or their checksum changed. */
  repeatables: string[];
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The `migrations/` folder of the project, found by walking up from this file to package.json. */
export function defaultMigrationsDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('migrations/ not found: no package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return path.join(dir, 'migrations');
}

/** The numbered migrations, in version order. */
export async function readMigrations(dir = defaultMigrationsDir()): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (file) => {
      const match = FILE_PATTERN.exec(file);
      if (!match) throw new Error(`migration file name ${file} does not match NNNN_name.sql`);
      const sql = await readFile(path.join(dir, file), 'utf8');
      const requires = [...sql.matchAll(REQUIRES_PATTERN)].map((m) => m[1]!);
      const migration: MigrationFile = { version: match[1]!, name: match[2]!, sql, checksum: sha256(sql), requires };
      if (NO_TRANSACTION_PATTERN.test(sql)) {
        if (requires.length > 0) throw new Error(`migration ${file}: a -- no-transaction migration cannot have -- requires`);
        migration.statements = nonTransactionalStatements(file, sql);
      }
      return migration;
    }),
  );
}

/** The repeatable files: functions/ then views/, each by name. */
export async function readRepeatables(dir = defaultMigrationsDir()): Promise<RepeatableFile[]> {
  const repeatables: RepeatableFile[] = [];
  for (const folder of REPEATABLE_FOLDERS) {
    const folderPath = path.join(dir, folder);
    if (!existsSync(folderPath)) continue;
    for (const file of (await readdir(folderPath)).sort()) {
      if (!REPEATABLE_PATTERN.test(file)) throw new Error(`repeatable file name ${folder}/${file} does not match name.sql`);
      const sql = await readFile(path.join(folderPath, file), 'utf8');
      const kind = folder === 'functions' ? 'function' : 'view';
      const requires = [...sql.matchAll(REQUIRES_PATTERN)].map((m) => m[1]!);
      repeatables.push({ name: `${folder}/${file}`, kind, object: file.slice(0, -'.sql'.length), sql, checksum: sha256(sql), requires });
    }
  }
  const names = new Set(repeatables.map((r) => r.name));
  for (const r of repeatables) for (const name of r.requires) if (!names.has(name)) throw new Error(`${r.name} requires ${name}, which does not exist`);
  return repeatables;
}

/**
 * The statements of a `-- no-transaction` file: each ends with `;` at the end of a line, and each is
 * `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS name ON ...` or `DROP INDEX CONCURRENTLY IF
 * EXISTS name`, so running the file again after it stopped half-way does no harm.
 */
function nonTransactionalStatements(file: string, sql: string): NonTransactionalStatement[] {
  const body = sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  const statements = body
    .split(/;[ \t]*(?:\n|$)/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (statements.length === 0) throw new Error(`migration ${file}: no statements`);
  return statements.map((statement) => {
    // One statement each: a `;` outside quoted literals would start another that the patterns did not check.
    if (statement.replace(/'(?:[^']|'')*'/g, '').includes(';'))
      throw new Error(`migration ${file}: one statement per line-ending ;, found: ${statement.slice(0, 80)}`);
    const create = CONCURRENT_CREATE.exec(statement);
    if (create) return { sql: statement, kind: 'create-index', index: create[2]!, table: create[4]! };
    const drop = CONCURRENT_DROP.exec(statement);
    if (drop) return { sql: statement, kind: 'drop-index', index: drop[2]! };
    throw new Error(
      `migration ${file}: a -- no-transaction migration holds only CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS and ` +
        `DROP INDEX CONCURRENTLY IF EXISTS statements, each ending with ; at the end of a line; found: ${statement.slice(0, 80)}`,
    );
  });
}

async function readSupersededChecksums(dir: string): Promise<Map<string, Set<string>>> {
  const file = path.join(dir, SUPERSEDED_FILE);
  if (!existsSync(file)) return new Map();
  const { checksums } = JSON.parse(await readFile(file, 'utf8')) as { checksums: Record<string, string[]> };
  return new Map(Object.entries(checksums).map(([version, list]) => [version, new Set(list)]));
}

/**
 * Brings a database to the schema of `migrations/` while holding a session-level advisory lock:
 * replicas starting together queue on the lock, and the later ones find nothing left to do.
 *
 * Two kinds of file (README, "Migrations"):
 * - Numbered migrations (`NNNN_name.sql`: tables, indexes, policies, grants, data) run once each, in
 *   version order, each in its own transaction, recorded with their checksum in `schema_migrations`.
 *   A changed checksum of an applied migration stops start-up rather than drift silently, unless the
 *   recorded one is listed for that version in `superseded-checksums.json`: a file rewritten without
 *   changing what it leaves behind on a database that ran the whole set (e.g. a function moved out
 *   to its repeatable file). Such a record is updated to the file's current checksum.
 *   A file with a `-- no-transaction` line runs outside a transaction, statement by statement: it
 *   builds or drops indexes CONCURRENTLY, so a large `events` table keeps taking appends while it
 *   runs. A build that failed or was cancelled leaves an invalid index behind; it is dropped
 *   (concurrently) before the build runs again. The file is recorded once every statement succeeded.
 * - Repeatable files (`functions/*.sql`, `views/*.sql`: each the one live definition of its object,
 *   named like the file, with its grants) are applied after the numbered migrations, functions before
 *   views, in one transaction, whenever new or changed; recorded in `schema_repeatables`. They use
 *   CREATE OR REPLACE; where PostgreSQL refuses that (a function's result type, a view's columns),
 *   the object is dropped and created again in the same transaction, together with the views of
 *   repeatable files that depend on it. A numbered migration that needs one to exist first (a
 *   policy naming a function, a backfill calling one) says so with a `-- requires: functions/x.sql`
 *   line, and it is applied, if new or changed, in that migration's transaction just before it.
 *   Removing an object, or changing a function's arguments, takes a numbered migration that drops it.
 *
 * The lock is taken with pg_try_advisory_lock, retried: a migrator blocked inside pg_advisory_lock
 * would hold a snapshot, and CREATE INDEX CONCURRENTLY waits for every older snapshot to go, so the
 * lock holder's build and the waiter would wait on each other.
 */
export async function migrate(pool: pg.Pool, dir = defaultMigrationsDir(), options: MigrateOptions = {}): Promise<MigrationReport> {
  const log = options.log ?? (() => undefined);
  const deadline = options.timeoutMs ? Date.now() + options.timeoutMs : undefined;
  const migrations = await readMigrations(dir);
  const repeatables = await readRepeatables(dir);
  const superseded = await readSupersededChecksums(dir);
  const byName = new Map(repeatables.map((r) => [r.name, r]));
  for (const m of migrations) {
    for (const name of m.requires) if (!byName.has(name)) throw new Error(`migration ${m.version}_${m.name} requires ${name}, which does not exist`);
  }
  const client = await pool.connect();
  const report: MigrationReport = { applied: [], alreadyApplied: [], repeatables: [] };
  let locked = false;
  try {
    await acquireLock(client, log, deadline, options.timeoutMs);
    locked = true;
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_repeatables (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations');
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const state = new RepeatableState(client, repeatables, await recordedRepeatables(client));
    const pending = migrations.filter((m) => !applied.has(m.version)).length;
    options.onProgress?.(0, pending, undefined);
    for (const m of migrations) {
      const checksum = applied.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) {
          if (!superseded.get(m.version)?.has(checksum)) throw new Error(`migration ${m.version}_${m.name} changed after it was applied`);
          await client.query('UPDATE schema_migrations SET checksum = $2 WHERE version = $1', [m.version, m.checksum]);
        }
        report.alreadyApplied.push(`${m.version}_${m.name}`);
        continue;
      }
      const label = `${m.version}_${m.name}`;
      const started = Date.now();
      options.onProgress?.(report.applied.length, pending, label);
      log(`applying ${label}${m.statements ? ' (no transaction: concurrent index builds; appends continue)' : ''}`);
      await limitStatements(client, deadline);
      try {
        if (m.statements) {
          await applyNonTransactional(pool, client, m, m.statements, log, options.progressEveryMs ?? PROGRESS_REPORT_MS);
        } else {
          await client.query('BEGIN');
          try {
            for (const name of m.requires) await state.apply(byName.get(name)!);
            await client.query(m.sql);
            await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            state.forgetUncommitted();
            throw error;
          }
          state.commit();
        }
      } catch (error) {
        throw migrationError(`migration ${label}`, error, options.timeoutMs, !!m.statements);
      }
      log(`applied ${label} in ${seconds(Date.now() - started)}`);
      report.applied.push(label);
      options.onProgress?.(report.applied.length, pending, undefined);
    }
    await limitStatements(client, deadline);
    await client.query('BEGIN');
    try {
      await state.applyAll();
      await client.query('DELETE FROM schema_repeatables WHERE name <> ALL ($1::text[])', [repeatables.map((r) => r.name)]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw migrationError('repeatable migrations', error, options.timeoutMs, false);
    }
    state.commit();
    report.repeatables = state.committed;
    if (report.repeatables.length > 0) log(`applied ${report.repeatables.join(', ')}`);
  } finally {
    if (locked) await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await client.query('RESET statement_timeout').catch(() => undefined);
    client.release();
  }
  return report;
}

/** What `migrate` would apply, and what it finds changed, without taking the lock or changing anything. */
export async function migrationStatus(pool: pg.Pool, dir = defaultMigrationsDir()): Promise<MigrationStatus> {
  const migrations = await readMigrations(dir);
  const repeatables = await readRepeatables(dir);
  const superseded = await readSupersededChecksums(dir);
  const { rows: tables } = await pool.query<{ migrations: string | null; repeatables: string | null }>(
    `SELECT to_regclass('schema_migrations')::text AS migrations, to_regclass('schema_repeatables')::text AS repeatables`,
  );
  const recorded = tables[0]!.migrations
    ? (
        await pool.query<{ version: string; name: string; checksum: string; applied_at: Date }>(
          'SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version',
        )
      ).rows
    : [];
  const recordedRepeatable = tables[0]!.repeatables
    ? new Map((await pool.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_repeatables')).rows.map((r) => [r.name, r.checksum]))
    : new Map<string, string>();
  const applied = new Map(recorded.map((r) => [r.version, r.checksum]));
  return {
    applied: recorded.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at })),
    pending: migrations.filter((m) => !applied.has(m.version)).map((m) => ({ version: m.version, name: m.name, transactional: !m.statements })),
    repeatables: repeatables.filter((r) => recordedRepeatable.get(r.name) !== r.checksum).map((r) => r.name),
    changed: migrations
      .filter((m) => {
        const checksum = applied.get(m.version);
        return checksum !== undefined && checksum !== m.checksum && !superseded.get(m.version)?.has(checksum);
      })
      .map((m) => `${m.version}_${m.name}`),
  };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Takes the migration lock, retrying (see `migrate`) and saying who holds it, until the deadline. */
async function acquireLock(client: pg.PoolClient, log: (line: string) => void, deadline: number | undefined, timeoutMs: number | undefined): Promise<void> {
  const started = Date.now();
  let reported: number | undefined;
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK_KEY]);
    if (rows[0]!.locked) {
      if (Date.now() - started >= LOCK_REPORT_MS) log(`took the migration lock after ${seconds(Date.now() - started)}`);
      return;
    }
    const now = Date.now();
    if (deadline !== undefined && now >= deadline) {
      throw new MigrationTimeoutError(`another migrator (${await lockHolder(client)}) held the migration lock for the whole ${timeoutMs} ms allowed`);
    }
    if (reported === undefined || now - reported >= LOCK_REPORT_MS) {
      log(`waiting for the migration lock, held by ${await lockHolder(client)}`);
      reported = now;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(LOCK_POLL_MS, (deadline ?? Infinity) - Date.now()))));
  }
}

/** Who holds the migration lock: its pid, application_name and state (active: running a statement). */
async function lockHolder(client: pg.PoolClient): Promise<string> {
  const { rows } = await client.query<{ pid: number; application_name: string; state: string | null; for_s: number | null }>(
    `SELECT a.pid, a.application_name, a.state, extract(epoch FROM now() - a.state_change)::int AS for_s
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`,
    [MIGRATION_LOCK_KEY],
  );
  const holder = rows[0];
  return holder
    ? `pid ${holder.pid}, ${holder.application_name || 'no application_name'}, ${holder.state ?? 'unknown state'} for ${holder.for_s ?? 0} s`
    : 'a session that just let it go';
}

/** statement_timeout for the time left before the deadline, so no statement outlives it. */
async function limitStatements(client: pg.PoolClient, deadline: number | undefined): Promise<void> {
  if (deadline === undefined) return;
  const left = deadline - Date.now();
  if (left <= 0) throw new MigrationTimeoutError('no time was left for the next migration');
  await client.query(`SELECT set_config('statement_timeout', $1, false)`, [String(left)]);
}

const QUERY_CANCELED = '57014';

function migrationError(what: string, error: unknown, timeoutMs: number | undefined, concurrent: boolean): Error {
  if (error instanceof MigrationTimeoutError) return error;
  if (timeoutMs && (error as { code?: string }).code === QUERY_CANCELED) {
    const leftover = concurrent ? ' (a half-built index is dropped and rebuilt by the next run)' : ' and was rolled back';
    return new MigrationTimeoutError(`${what} did not finish within the ${timeoutMs} ms allowed${leftover}`, { cause: error });
  }
  return new Error(`${what} failed: ${(error as Error).message}`, { cause: error });
}

/**
 * Every `everyMs` while `client` builds `index`: its phase and blocks or tuples done, read from
 * pg_stat_progress_create_index over a connection of its own (the pool's settings; the build's
 * connection is busy).
 */
function reportBuildProgress(pool: pg.Pool, client: pg.PoolClient, index: string, log: (line: string) => void, everyMs: number): { stop(): Promise<void> } {
  const pid = (client as unknown as { processID?: number }).processID;
  const watcher = new pg.Client(pool.options);
  watcher.on('error', () => undefined);
  const connected = watcher.connect().then(
    () => true,
    () => false,
  );
  let reading = Promise.resolve();
  const timer = setInterval(() => {
    reading = reading.then(
      async () => {
        if (!(await connected)) return;
        const { rows } = await watcher.query<{ phase: string; blocks_done: string; blocks_total: string; tuples_done: string; tuples_total: string }>(
          'SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total FROM pg_stat_progress_create_index WHERE pid = $1',
          [pid],
        );
        const row = rows[0];
        if (!row) return;
        const [done, total, unit] =
          Number(row.blocks_total) > 0 ? [row.blocks_done, row.blocks_total, 'blocks'] : [row.tuples_done, row.tuples_total, 'tuples'];
        const percent = Number(total) > 0 ? ` (${Math.floor((Number(done) / Number(total)) * 100)}%)` : '';
        log(`  building index ${index}: ${row.phase}, ${done}/${total} ${unit}${percent}`);
      },
      () => undefined,
    );
  }, everyMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await reading.catch(() => undefined);
      if (await connected) await watcher.end().catch(() => undefined);
    },
  };
}

/**
 * Runs a `-- no-transaction` migration: each statement alone (CONCURRENTLY refuses a transaction
 * block, and several statements in one query string make one), an invalid index of the same name,
 * left by a build that failed or was cancelled, dropped first: IF NOT EXISTS would keep it as it is.
 */
async function applyNonTransactional(
  pool: pg.Pool,
  client: pg.PoolClient,
  m: MigrationFile,
  statements: NonTransactionalStatement[],
  log: (line: string) => void,
  progressEveryMs: number,
): Promise<void> {
  for (const statement of statements) {
    const started = Date.now();
    if (statement.kind === 'create-index' && (await isPartitioned(client, statement.table!))) {
      await buildOnPartitions(pool, client, statement, log, progressEveryMs);
      log(`  built index ${statement.index} in ${seconds(Date.now() - started)}`);
      continue;
    }
    if (statement.kind === 'create-index') await dropInvalidIndex(client, statement.index, log);
    const progress = statement.kind === 'create-index' ? reportBuildProgress(pool, client, statement.index, log, progressEveryMs) : undefined;
    try {
      // A partitioned index cannot be dropped CONCURRENTLY: a plain drop takes the table's lock for a moment.
      const partitionedIndex = statement.kind === 'drop-index' && (await relationKind(client, statement.index)) === 'I';
      await client.query(partitionedIndex ? `DROP INDEX IF EXISTS ${statement.index}` : statement.sql);
    } finally {
      await progress?.stop();
    }
    log(`  ${statement.kind === 'create-index' ? 'built' : 'dropped'} index ${statement.index} in ${seconds(Date.now() - started)}`);
  }
  await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
}

async function relationKind(client: pg.PoolClient, name: string): Promise<string | undefined> {
  const { rows } = await client.query<{ relkind: string }>(
    `SELECT c.relkind FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
    [name],
  );
  return rows[0]?.relkind;
}

const isPartitioned = async (client: pg.PoolClient, table: string) => (await relationKind(client, table)) === 'p';

/** An invalid index of this name, left by a build that failed or was cancelled: IF NOT EXISTS would keep it as it is. */
async function dropInvalidIndex(client: pg.PoolClient, index: string, log: (line: string) => void): Promise<void> {
  const { rows } = await client.query<{ invalid: boolean }>(
    `SELECT NOT i.indisvalid AS invalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`,
    [index],
  );
  if (rows[0]?.invalid) {
    log(`dropping invalid index ${index}, left by an earlier build that did not finish`);
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`);
  }
}

/**
 * CREATE INDEX CONCURRENTLY on a partitioned table (`events`, docs/architecture.md#time-partitioned-log),
 * which PostgreSQL refuses: the index is created ON ONLY the table (at once; invalid until every
 * partition has its own), then built CONCURRENTLY on each partition not covered yet, named
 * `<index>_<partition less the table's prefix>`, and attached. Appends go on throughout; a run that
 * stopped half-way resumes where it was (an invalid partition index is dropped and built again).
 * Partitions created later get the index from the table.
 */
async function buildOnPartitions(
  pool: pg.Pool,
  client: pg.PoolClient,
  statement: NonTransactionalStatement,
  log: (line: string) => void,
  progressEveryMs: number,
): Promise<void> {
  const { index, table } = statement as Required<NonTransactionalStatement>;
  const onTable = new RegExp(`\\s+ON\\s+(?:public\\.)?"?${table}"?(?=[\\s(])`, 'i');
  await client.query(statement.sql.replace(/\s+CONCURRENTLY\s+/i, ' ').replace(onTable, ` ON ONLY ${table}`));
  const { rows: partitions } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_inherits x JOIN pg_index p ON p.indexrelid = x.inhrelid
                        WHERE x.inhparent = $2::regclass AND p.indrelid = c.oid)
      ORDER BY c.relname`,
    [table, index],
  );
  for (const { name } of partitions) {
    const own = `${index}_${name.startsWith(`${table}_`) ? name.slice(table.length + 1) : name}`.slice(0, 63);
    await dropInvalidIndex(client, own, log);
    const progress = reportBuildProgress(pool, client, index, log, progressEveryMs);
    try {
      await client.query(statement.sql.replace(new RegExp(`(EXISTS\\s+)"?${index}"?`, 'i'), `$1${own}`).replace(onTable, ` ON ${name}`));
    } finally {
      await progress.stop();
    }
    await client.query(`ALTER INDEX ${index} ATTACH PARTITION ${own}`);
  }
}

async function recordedRepeatables(client: pg.PoolClient): Promise<Map<string, string>> {
  const { rows } = await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_repeatables');
  return new Map(rows.map((r) => [r.name, r.checksum]));
}

/** Applies repeatable files inside the caller's transaction and tracks what `schema_repeatables` holds. */
class RepeatableState {
  /** Names applied by committed transactions, in order. */
  readonly committed: string[] = [];
  private pending: string[] = [];
  private readonly before: Map<string, string>;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly files: readonly RepeatableFile[],
    private recorded: Map<string, string>,
  ) {
    this.before = new Map(recorded);
  }

  /** Every new or changed file; again while dropping objects for a replacement left some to create. */
  async applyAll(): Promise<void> {
    for (let round = 0; round <= this.files.length; round++) {
      const due = this.files.filter((r) => this.recorded.get(r.name) !== r.checksum);
      if (due.length === 0) return;
      for (const r of due) await this.apply(r);
    }
    throw new Error('repeatable migrations did not settle');
  }

  async apply(r: RepeatableFile): Promise<void> {
    if (this.recorded.get(r.name) === r.checksum) return;
    for (const name of r.requires) await this.apply(this.files.find((f) => f.name === name)!);
    await this.client.query('SAVEPOINT repeatable');
    try {
      await this.client.query(r.sql);
    } catch (error) {
      await this.client.query('ROLLBACK TO SAVEPOINT repeatable');
      if (!NOT_REPLACEABLE.has((error as { code?: string }).code ?? '')) throw this.failed(r, error);
      try {
        await this.drop(r);
        await this.client.query(r.sql);
      } catch (retryError) {
        throw this.failed(r, retryError);
      }
    }
    await this.client.query('RELEASE SAVEPOINT repeatable');
    await this.client.query(
      `INSERT INTO schema_repeatables (name, checksum) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET checksum = excluded.checksum, applied_at = now()`,
      [r.name, r.checksum],
    );
    this.recorded.set(r.name, r.checksum);
    this.pending.push(r.name);
  }

  commit(): void {
    this.committed.push(...this.pending);
    this.pending = [];
    this.before.clear();
    for (const [name, checksum] of this.recorded) this.before.set(name, checksum);
  }

  forgetUncommitted(): void {
    this.pending = [];
    this.recorded = new Map(this.before);
  }

  /** Drops the object of `r`; when views stand on it, every view of a repeatable file first (each is created again). */
  private async drop(r: RepeatableFile): Promise<void> {
    const statement = `DROP ${r.kind === 'view' ? 'VIEW' : 'ROUTINE'} IF EXISTS ${r.object}`;
    await this.client.query('SAVEPOINT repeatable_drop');
    try {
      await this.client.query(statement);
    } catch (error) {
      await this.client.query('ROLLBACK TO SAVEPOINT repeatable_drop');
      if ((error as { code?: string }).code !== DEPENDENT_OBJECTS_STILL_EXIST) throw error;
      const views = this.files.filter((v) => v.kind === 'view');
      const { rows } = await this.client.query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c WHERE c.relkind = 'v' AND c.relnamespace = current_schema()::regnamespace
           AND c.relname = ANY ($1::text[])`,
        [views.map((v) => v.object)],
      );
      if (rows.length > 0) await this.client.query(`DROP VIEW ${rows.map((v) => v.name).join(', ')}`);
      for (const v of views) this.recorded.delete(v.name);
      await this.client.query('DELETE FROM schema_repeatables WHERE name = ANY ($1::text[])', [views.map((v) => v.name)]);
      // Anything else that depends on it (a policy, an index) fails here: that change needs a numbered migration.
      await this.client.query(statement);
    }
    await this.client.query('RELEASE SAVEPOINT repeatable_drop');
  }

  private failed(r: RepeatableFile, error: unknown): Error {
    return new Error(`repeatable migration ${r.name} failed: ${(error as Error).message}`, { cause: error });
  }
}
