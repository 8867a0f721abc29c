import { sql, type Kysely, type RawBuilder } from 'kysely';
import { PREPARED, type Database } from '#ark/database';

/** A list capped at a limit, with the count of all its items. */
export interface CappedList<T> {
  items: T[];
  total: number;
  truncated: boolean;
}

/**
 * Per query of `keys`, the total of its calls (tool_calls or llm_calls) and, for the `detailed`
 * ones, the first `cap` in log order, in one statement: totals are counted from the (tenant,
 * query_key) index, and only the detailed queries' calls are read (a LATERAL per listed query), so
 * the calls of summarised queries are never fetched.
 */
export async function callsPerQuery<Row extends { query_key: string }>(
  db: Kysely<Database>,
  table: RawBuilder<unknown>,
  tenantId: string,
  keys: readonly string[],
  detailed: readonly string[],
  cap: number,
): Promise<Map<string, CappedList<Row>>> {
  const out = new Map<string, CappedList<Row>>();
  if (keys.length === 0) return out;
  const { rows } = await sql<{ counted_key: string; total: number; query_key: string | null }>`${PREPARED}
    SELECT t.query_key AS counted_key, t.total, c.*
    FROM (SELECT query_key, count(*)::int AS total FROM ${table}
          WHERE tenant_id = ${tenantId} AND query_key = ANY(${keys}::text[]) GROUP BY query_key) t
    LEFT JOIN LATERAL (
      SELECT * FROM ${table} c
      WHERE c.tenant_id = ${tenantId} AND c.query_key = t.query_key AND t.query_key = ANY(${detailed}::text[])
      ORDER BY c.first_position, c.call_key LIMIT ${cap}
    ) c ON true
    ORDER BY t.query_key, c.first_position, c.call_key`.execute(db);
  const listedKeys = new Set(detailed);
  for (const r of rows) {
    let list = out.get(r.counted_key);
    if (!list) out.set(r.counted_key, (list = { items: [], total: r.total, truncated: r.total > (listedKeys.has(r.counted_key) ? cap : 0) }));
    // Undetailed queries come back as one row of totals with no call (NULL c.*).
    if (r.query_key !== null) list.items.push(r as unknown as Row);
  }
  return out;
}
