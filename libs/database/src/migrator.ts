import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

/** Arbitrary constant: the session-level advisory lock that serialises migrators across replicas. */
const MIGRATION_LOCK_KEY = 4_211_202_611;
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const REPEATABLE_PATTERN = /^[a-z0-9_]+\.sql$/;
/** Folders of repeatable files, in the order they are applied: views may read functions. */
const REPEATABLE_FOLDERS = ['functions', 'views'] as const;
/** `-- requires: functions/x.sql` in a numbered migration: that repeatable is applied before it. */
const REQUIRES_PATTERN = /^-- requires: (\S+)$/gm;
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
      return { version: match[1]!, name: match[2]!, sql, checksum: sha256(sql), requires };
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
      repeatables.push({ name: `${folder}/${file}`, kind, object: file.slice(0, -'.sql'.length), sql, checksum: sha256(sql) });
    }
  }
  return repeatables;
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
 * - Repeatable files (`functions/*.sql`, `views/*.sql`: each the one live definition of its object,
 *   named like the file, with its grants) are applied after the numbered migrations, functions before
 *   views, in one transaction, whenever new or changed; recorded in `schema_repeatables`. They use
 *   CREATE OR REPLACE; where PostgreSQL refuses that (a function's result type, a view's columns),
 *   the object is dropped and created again in the same transaction, together with the views of
 *   repeatable files that depend on it. A numbered migration that needs one to exist first (a
 *   policy naming a function, a backfill calling one) says so with a `-- requires: functions/x.sql`
 *   line, and it is applied, if new or changed, in that migration's transaction just before it.
 *   Removing an object, or changing a function's arguments, takes a numbered migration that drops it.
 */
export async function migrate(pool: pg.Pool, dir = defaultMigrationsDir()): Promise<MigrationReport> {
  const migrations = await readMigrations(dir);
  const repeatables = await readRepeatables(dir);
  const superseded = await readSupersededChecksums(dir);
  const byName = new Map(repeatables.map((r) => [r.name, r]));
  for (const m of migrations) {
    for (const name of m.requires) if (!byName.has(name)) throw new Error(`migration ${m.version}_${m.name} requires ${name}, which does not exist`);
  }
  const client = await pool.connect();
  const report: MigrationReport = { applied: [], alreadyApplied: [], repeatables: [] };
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_repeatables (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await client.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations');
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const state = new RepeatableState(client, repeatables, await recordedRepeatables(client));
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
      await client.query('BEGIN');
      try {
        for (const name of m.requires) await state.apply(byName.get(name)!);
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        state.forgetUncommitted();
        throw new Error(`migration ${m.version}_${m.name} failed: ${(error as Error).message}`, { cause: error });
      }
      state.commit();
      report.applied.push(`${m.version}_${m.name}`);
    }
    await client.query('BEGIN');
    try {
      await state.applyAll();
      await client.query('DELETE FROM schema_repeatables WHERE name <> ALL ($1::text[])', [repeatables.map((r) => r.name)]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    }
    state.commit();
    report.repeatables = state.committed;
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return report;
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
