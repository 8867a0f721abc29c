import { sql, type Kysely } from 'kysely';
import { GenerateSql, type Database } from '#ark/database';

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

  /** Expired sessions with everything read from them. */
  @GenerateSql({ params: [1000] })
  async reapExpiredSessions(batchSize: number): Promise<number> {
    return this.count(sql<{ n: number }>`SELECT ark_reap_expired_sessions(${batchSize}) AS n`);
  }

  private async count(query: ReturnType<typeof sql<{ n: number }>>): Promise<number> {
    const { rows } = await query.execute(this.db);
    return rows[0]?.n ?? 0;
  }
}
