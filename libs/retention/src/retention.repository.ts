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

/** `ark-broker retention status`: the space the log and its read models take, and what each tenant keeps. */
export interface RetentionStatus {
  /** Bytes per table, indexes and TOAST included, largest first. */
  tables: { table: string; bytes: number }[];
  tenants: TenantRetention[];
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
    const [tables, events, sessions] = await Promise.all([
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
    ]);
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
      tables: tables.rows.map((r) => ({ table: r.table, bytes: Number(r.bytes) })),
      tenants: [...tenants.values()].sort((a, b) => (a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0)),
    };
  }

  private async count(query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
    const { rows } = await query.execute(this.db);
    return rows[0]?.n ?? 0;
  }
}
