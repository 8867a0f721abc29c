import { sql, type Kysely } from 'kysely';
import { GenerateSql, type Database } from '#ark/database';

/** What one tenant keeps: its events, the oldest still stored, the next to expire and how many expired rows wait for the reaper. */
export interface TenantRetention {
  tenantId: string;
  events: number;
  oldestRecordedAt: Date | null;
  nextExpiresAt: Date | null;
  expiredEvents: number;
  sessions: number;
  expiredSessions: number;
}

/** One partition of `events` (docs/architecture.md#time-partitioned-log). */
export interface EventPartition {
  name: string;
  /** Bounds of its recorded_at; null for the DEFAULT partition (and lower for the oldest, which starts at -infinity). */
  lowerBound: Date | null;
  upperBound: Date | null;
  isDefault: boolean;
  /** Bytes, indexes and TOAST included. */
  bytes: number;
  rows: number;
  /** Its newest expires_at; null when it is empty or a row never expires. */
  newestExpiresAt: Date | null;
  /** Whether a row never expires (appended without a TTL): the partition is kept for ever. */
  keptForEver: boolean;
}

/** `ark-broker retention status`: the space the log and its read models take, and what each tenant keeps. */
export interface RetentionStatus {
  /** Bytes per table, indexes and TOAST included, largest first. */
  tables: { table: string; bytes: number }[];
  tenants: TenantRetention[];
  /** The partitions of `events`, oldest first, DEFAULT last. */
  partitions: EventPartition[];
}

/** What the partition step of a reaper pass did; `skipped`: another replica held the partition lock. */
export interface PartitionPass {
  created: number;
  dropped: string[];
  skipped: boolean;
}

/**
 * The reaper's SQL: each call deletes at most `batchSize` expired rows (or sessions) of every tenant
 * and answers how many (migrations/functions/ark_reap_expired_*.sql, which run as the tables' owner).
 */
export class RetentionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Expired events (the traces read model follows the spans among them). */
  @GenerateSql({ params: [1000] })
  async reapExpiredEvents(batchSize: number): Promise<number> {
    return this.count(sql<{ n: number }>`SELECT ark_reap_expired_events(${batchSize}) AS n`);
  }

  /** Expired dedupe keys (those of events that went with a dropped partition). */
  @GenerateSql({ params: [1000] })
  async reapExpiredDedupeKeys(batchSize: number): Promise<number> {
    return this.count(sql<{ n: number }>`SELECT ark_reap_expired_dedupe_keys(${batchSize}) AS n`);
  }

  /**
   * Creates the partitions of `events` from the one holding now() to `ahead` more, each `widthSeconds`
   * wide; answers how many, or null when another replica holds the partition lock (`wait`: queue for it).
   */
  @GenerateSql({ params: [86_400, 3, false] })
  async createPartitions(widthSeconds: number, ahead: number, wait: boolean): Promise<number | null> {
    const { rows } = await sql<{ n: number | null }>`
      SELECT ark_create_event_partitions(make_interval(secs => ${widthSeconds}), ${ahead}, ${wait}) AS n`.execute(this.db);
    return rows[0]?.n ?? null;
  }

  /** Drops the oldest partition that ended `minAgeSeconds` ago and holds no unexpired row; its name, or null. */
  @GenerateSql({ params: [3_600] })
  async dropExpiredPartition(minAgeSeconds: number): Promise<string | null> {
    const { rows } = await sql<{ name: string | null }>`SELECT ark_drop_event_partition(make_interval(secs => ${minAgeSeconds})) AS name`.execute(this.db);
    return rows[0]?.name ?? null;
  }

  /** Expired rows of the messages read model. */
  @GenerateSql({ params: [1000] })
  async reapExpiredMessages(batchSize: number): Promise<number> {
    return this.count(sql<{ n: number }>`SELECT ark_reap_expired_messages(${batchSize}) AS n`);
  }

  /** Expired compacted chunk runs (`llm_completions`). */
  @GenerateSql({ params: [1000] })
  async reapExpiredCompletions(batchSize: number): Promise<number> {
    return this.count(sql<{ n: number }>`SELECT ark_reap_expired_completions(${batchSize}) AS n`);
  }

  /** Expired sessions with everything read from them. */
  @GenerateSql({ params: [1000] })
  async reapExpiredSessions(batchSize: number): Promise<number> {
    return this.count(sql<{ n: number }>`SELECT ark_reap_expired_sessions(${batchSize}) AS n`);
  }

  /**
   * What `ark-broker retention status` shows. It reads every row of `events` and `sessions` (run it
   * as the tables' owner, as the CLI does: the broker's role sees no tenant outside a request).
   */
  @GenerateSql({ params: [] })
  async status(): Promise<RetentionStatus> {
    const [tables, events, sessions, partitions, partitionRows] = await Promise.all([
      sql<{ table: string; bytes: string }>`
        SELECT c.relname AS table, pg_total_relation_size(c.oid) AS bytes FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
          AND c.relname IN ('events', 'event_streams', 'sessions', 'session_queries', 'queries', 'tool_calls', 'llm_calls', 'messages', 'traces', 'llm_completions')
        ORDER BY bytes DESC, c.relname`.execute(this.db),
      sql<{ tenant_id: string; events: string; oldest: Date | null; next: Date | number | null; expired: string }>`
        SELECT tenant_id, count(*) AS events, min(recorded_at) AS oldest, min(expires_at) AS next,
               count(*) FILTER (WHERE expires_at <= now()) AS expired
        FROM events GROUP BY tenant_id`.execute(this.db),
      sql<{ tenant_id: string; sessions: string; expired: string }>`
        SELECT tenant_id, count(*) AS sessions, count(*) FILTER (WHERE expires_at <= now()) AS expired
        FROM sessions GROUP BY tenant_id`.execute(this.db),
      sql<{ name: string; lower_bound: Date | number | null; upper_bound: Date | null; is_default: boolean; bytes: string }>`
        SELECT p.name, p.lower_bound, p.upper_bound, p.is_default, pg_total_relation_size(p.name::regclass) AS bytes
        FROM ark_event_partitions() p`.execute(this.db),
      sql<{ name: string; rows: string; newest: Date | number }>`
        SELECT tableoid::regclass::text AS name, count(*) AS rows, max(expires_at) AS newest FROM events GROUP BY tableoid`.execute(this.db),
    ]);
    const filled = new Map(partitionRows.rows.map((r) => [r.name, r]));
    const tenants = new Map<string, TenantRetention>();
    const tenant = (tenantId: string) => {
      let t = tenants.get(tenantId);
      if (!t) {
        t = { tenantId, events: 0, oldestRecordedAt: null, nextExpiresAt: null, expiredEvents: 0, sessions: 0, expiredSessions: 0 };
        tenants.set(tenantId, t);
      }
      return t;
    };
    for (const r of events.rows) {
      Object.assign(tenant(r.tenant_id), {
        events: Number(r.events),
        oldestRecordedAt: r.oldest,
        // 'infinity' (events appended without a TTL) reads as a number: nothing to expire.
        nextExpiresAt: r.next instanceof Date ? r.next : null,
        expiredEvents: Number(r.expired),
      });
    }
    for (const r of sessions.rows) Object.assign(tenant(r.tenant_id), { sessions: Number(r.sessions), expiredSessions: Number(r.expired) });
    return {
      partitions: partitions.rows.map((r) => {
        const held = filled.get(r.name);
        return {
          name: r.name,
          // '-infinity' (the oldest partition's lower bound) and 'infinity' (a row without a TTL) read as numbers.
          lowerBound: r.lower_bound instanceof Date ? r.lower_bound : null,
          upperBound: r.upper_bound,
          isDefault: r.is_default,
          bytes: Number(r.bytes),
          rows: Number(held?.rows ?? 0),
          newestExpiresAt: held?.newest instanceof Date ? held.newest : null,
          keptForEver: held !== undefined && !(held.newest instanceof Date),
        };
      }),
      tables: tables.rows.map((r) => ({ table: r.table, bytes: Number(r.bytes) })),
      tenants: [...tenants.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0)),
    };
  }

  private async count(query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
    const { rows } = await query.execute(this.db);
    return rows[0]?.n ?? 0;
  }
}
