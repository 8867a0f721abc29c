import { sql, type Kysely } from 'kysely';
import { GenerateSql, type Database } from '#ark/database';

/** The planner-statistics pass's SQL (migrations/functions/ark_analyze_stale_table.sql, which runs as the tables' owner). */
export class PlannerStatisticsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * ANALYZEs the table changed the most since its last ANALYZE, by at least `minChanges` rows and
   * `changedShare` of its rows, other than those in `done`; answers its name, or null when none is
   * due or another replica is analyzing.
   */
  @GenerateSql({ params: [0.1, 500, ['events']] })
  async analyzeStaleTable(changedShare: number, minChanges: number, done: readonly string[]): Promise<string | null> {
    const { rows } = await sql<{ analyzed: string | null }>`
      SELECT ark_analyze_stale_table(${changedShare}::float8, ${minChanges}::bigint, ${done}::text[]) AS analyzed`.execute(this.db);
    return rows[0]?.analyzed ?? null;
  }
}
