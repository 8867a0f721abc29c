import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '#ark/database';
import { EventLogRepository, FEED_START, type ArkEvent, type FeedCursor, type InlineProjector } from '#ark/event-store';

export interface RebuildReport {
  projectors: string[];
  /** Events replayed, all passes. */
  events: number;
  /** Catch-up passes after the first (events committed while the rebuild ran). */
  catchUps: number;
  /** The final swap: how long appends waited (the one transaction that locks the read models). */
  swapMs: number;
  /** Rows the swap deleted from and inserted into the live tables (a row that changed counts in both). */
  changedRows: number;
  ms: number;
}

/** Schema of the copies the replay writes (UNLOGGED: they are thrown away after the swap). */
const SHADOW = 'ark_rebuild';
/** Session advisory lock key: one rebuild per database at a time. */
const REBUILD_LOCK = sql`hashtextextended('ark-broker projections rebuild', 0)`;
/** Catch-up passes stop once one finds fewer events than this; the swap replays the rest. */
const SMALL_TAIL = 2_000;
const MAX_CATCH_UPS = 10;

const ident = (name: string) => sql.id(name);
const cursorOf = (e: ArkEvent): FeedCursor => ({ transactionId: BigInt(e.transactionId), globalPosition: e.globalPosition });

/**
 * `ark-broker projections rebuild`: replays the log through the inline projectors into empty copies
 * of their tables, in many short transactions, then swaps the result into the live tables in one
 * short transaction. Nothing waits for the replay: appenders keep projecting into the live tables,
 * readers keep reading them, and the feed horizon (the oldest running transaction) moves on, so watch
 * streams are not held back while it runs.
 *
 * Which events each pass replays is fixed by snapshots: the first pass takes everything committed
 * before snapshot S0, each catch-up pass what committed between the previous snapshot and a new one.
 * The swap transaction locks the live read-model tables in EXCLUSIVE mode (reads go on; appenders
 * wait at their first projection write), replays what committed since the last snapshot (no appender
 * can commit now: each must write a locked table first, and any that had written one has committed
 * before the lock was granted), then makes each live table equal to its copy by deleting the rows that
 * differ and inserting the missing ones. Appenders that waited then project their own events on top,
 * so every event is counted once. The trade-off: appends stall for the swap, which is proportional to
 * the replay's tail plus a comparison of each table with its copy (not to the log's length), and the
 * copies need as much disk as the read models.
 */
/** Told the events replayed so far and the log's size (see `rebuild`). */
export type RebuildProgress = (replayed: number, total: number) => void;

export class ProjectionRebuilder {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly projectors: readonly InlineProjector[],
  ) {}

  /**
   * `onProgress` is told the events replayed so far and how many the log holds (the sum of the
   * sessions' last sequences: an upper bound once retention deleted some), after every page.
   */
  async rebuild(batchSize = 5_000, onProgress?: RebuildProgress): Promise<RebuildReport> {
    const started = performance.now();
    const tables = [...new Set(this.projectors.flatMap((p) => p.tables))];
    return this.db.connection().execute(async (db) => {
      const { rows: locked } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_lock(${REBUILD_LOCK}) AS ok`.execute(db);
      if (!locked[0]?.ok) throw new Error('another projections rebuild is running on this database');
      try {
        const live = await this.liveSchema(db);
        await this.createCopies(db, live, tables);
        // The projectors' unqualified table names resolve to the copies; `events` and the rest to the live schema.
        const { rows: path } = await sql<{ p: string }>`SELECT current_setting('search_path') AS p`.execute(db);
        const searchPath = `${SHADOW}, ${path[0]!.p}`;
        let events = 0;
        const total = onProgress ? await this.eventTotal(db) : 0;
        const progress = onProgress && ((replayed: number) => onProgress(events + replayed, Math.max(total, events + replayed)));
        // Pass 1, then catch-up passes while the tail is long.
        let since: string | null = null;
        let catchUps = -1;
        for (;;) {
          const upTo = await this.snapshot(db);
          const replayed = await this.replayPasses(db, searchPath, upTo, since, batchSize, progress);
          events += replayed;
          since = upTo;
          catchUps++;
          if (replayed < SMALL_TAIL || catchUps >= MAX_CATCH_UPS) break;
        }
        const swapStarted = performance.now();
        const swap = await db.transaction().execute(async (trx) => {
          await sql`LOCK TABLE ${sql.join(tables.map((t) => sql`${ident(live)}.${ident(t)}`))} IN EXCLUSIVE MODE`.execute(trx);
          // Taken after the lock: every appender that wrote a live table has committed and is in it.
          const upTo = await this.snapshot(trx);
          const tail = await this.replay(trx, searchPath, upTo, since, batchSize);
          let changedRows = 0;
          for (const table of tables) changedRows += await this.copyDifferences(trx, live, table);
          return { tail, changedRows };
        });
        events += swap.tail;
        const swapMs = performance.now() - swapStarted;
        await sql`DROP SCHEMA ${ident(SHADOW)} CASCADE`.execute(db);
        return { projectors: this.projectors.map((p) => p.name), events, catchUps, swapMs, changedRows: swap.changedRows, ms: performance.now() - started };
      } finally {
        await sql`SELECT pg_advisory_unlock(${REBUILD_LOCK})`.execute(db);
      }
    });
  }

  private async liveSchema(db: Kysely<Database>): Promise<string> {
    const { rows } = await sql<{ schema: string }>`
      SELECT n.nspname AS schema FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass('events')`.execute(db);
    if (!rows[0]) throw new Error('no events table on the search path: run the migrations first');
    return rows[0].schema;
  }

  /** Empty UNLOGGED copies of the read-model tables (columns, defaults, constraints, indexes). */
  private async createCopies(db: Kysely<Database>, live: string, tables: readonly string[]): Promise<void> {
    await sql`DROP SCHEMA IF EXISTS ${ident(SHADOW)} CASCADE`.execute(db); // a crashed rebuild's copies
    await sql`CREATE SCHEMA ${ident(SHADOW)}`.execute(db);
    for (const t of tables) {
      await sql`CREATE UNLOGGED TABLE ${ident(SHADOW)}.${ident(t)} (LIKE ${ident(live)}.${ident(t)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)`.execute(
        db,
      );
    }
  }

  private async snapshot(db: Kysely<Database>): Promise<string> {
    const { rows } = await sql<{ s: string }>`SELECT pg_current_snapshot()::text AS s`.execute(db);
    return rows[0]!.s;
  }

  /** One pass in transactions of one page each (short: the feed horizon is held only that long). */
  private async replayPasses(
    db: Kysely<Database>,
    searchPath: string,
    upTo: string,
    since: string | null,
    batchSize: number,
    progress: ((replayed: number) => void) | undefined,
  ): Promise<number> {
    const tenants = await this.tenants(db);
    let cursor = this.passStart(since);
    let events = 0;
    for (;;) {
      const page = await db.transaction().execute(async (trx) => {
        await sql`SELECT set_config('search_path', ${searchPath}, true)`.execute(trx);
        const batch = await new EventLogRepository(trx).readReplayPage(tenants, upTo, since, cursor, batchSize);
        for (const p of this.projectors) await p.project(trx, batch);
        return batch;
      });
      events += page.length;
      progress?.(events);
      if (page.length < batchSize) return events;
      cursor = cursorOf(page.at(-1)!);
    }
  }

  /** How many events the log holds, from the stream rows (no scan of the log). */
  private async eventTotal(db: Kysely<Database>): Promise<number> {
    const { rows } = await sql<{ total: string }>`SELECT coalesce(sum(last_sequence), 0)::text AS total FROM event_streams`.execute(db);
    return Number(rows[0]?.total ?? 0);
  }

  /** The same pass inside the caller's transaction (the swap; what follows names tables with their schema). */
  private async replay(trx: Transaction<Database>, searchPath: string, upTo: string, since: string | null, batchSize: number): Promise<number> {
    await sql`SELECT set_config('search_path', ${searchPath}, true)`.execute(trx);
    const tenants = await this.tenants(trx);
    const log = new EventLogRepository(trx);
    let cursor = this.passStart(since);
    let events = 0;
    for (;;) {
      const page = await log.readReplayPage(tenants, upTo, since, cursor, batchSize);
      for (const p of this.projectors) await p.project(trx, page);
      events += page.length;
      if (page.length < batchSize) return events;
      cursor = cursorOf(page.at(-1)!);
    }
  }

  /**
   * Where a pass starts in feed order: a catch-up pass needs only transactions `since` did not see,
   * which are all at or above its xmin.
   */
  private passStart(since: string | null): FeedCursor {
    if (since === null) return FEED_START;
    return { transactionId: BigInt(since.split(':')[0]!), globalPosition: 0 };
  }

  /** Tenants with events (a tenant's first stream row commits with its first events). */
  private async tenants(db: Kysely<Database>): Promise<string[]> {
    const { rows } = await sql<{ tenant_id: string }>`SELECT DISTINCT tenant_id FROM event_streams`.execute(db);
    return rows.map((r) => r.tenant_id);
  }

  /**
   * Makes a live table equal to its copy, touching only rows that differ: deletes live rows with no
   * identical copy row, then inserts copy rows whose key is missing. Returns the rows written.
   */
  private async copyDifferences(trx: Transaction<Database>, live: string, table: string): Promise<number> {
    const { rows: keyRows } = await sql<{ column: string }>`
      SELECT a.attname AS column FROM pg_index i
      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
      WHERE i.indrelid = ${`${live}.${table}`}::regclass AND i.indisprimary`.execute(trx);
    if (keyRows.length === 0) throw new Error(`read-model table ${table} has no primary key`);
    const liveTable = sql`${ident(live)}.${ident(table)}`;
    const copy = sql`${ident(SHADOW)}.${ident(table)}`;
    const sameKey = sql.join(
      keyRows.map((k) => sql`c.${ident(k.column)} = l.${ident(k.column)}`),
      sql` AND `,
    );
    const deleted = await sql`
      DELETE FROM ${liveTable} l
      WHERE NOT EXISTS (SELECT 1 FROM ${copy} c WHERE ${sameKey} AND ROW(c.*) IS NOT DISTINCT FROM ROW(l.*))`.execute(trx);
    const inserted = await sql`
      INSERT INTO ${liveTable} SELECT c.* FROM ${copy} c
      WHERE NOT EXISTS (SELECT 1 FROM ${liveTable} l WHERE ${sameKey})`.execute(trx);
    return Number(deleted.numAffectedRows ?? 0n) + Number(inserted.numAffectedRows ?? 0n);
  }
}
