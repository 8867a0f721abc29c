import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type pg from 'pg';

const MARK = '/* ark:prepared */';

/**
 * Put first in a hot statement (`sql`${PREPARED} INSERT …``) to have it parsed and planned once per
 * pooled connection instead of on every call: the projectors' upserts took 0.2–1 ms to plan and
 * ran in less. PostgreSQL then reuses the plan (a generic one once it is as cheap as the custom
 * ones). Only for statements whose text takes few forms: each form is one prepared statement on each
 * connection, for the connection's life.
 *
 * Not for a statement that joins a batch's keys to a table that grows (UPDATE … FROM unnest(…), a
 * JOIN on the keys): the generic plan is fixed when it is first chosen, and one made while the table
 * was small (a hash join over a scan of it) scans the whole table on every call once it has grown,
 * until an ANALYZE invalidates it. Nor for LATERAL lookups by keys: planned on a young table, every
 * index leading with tenant_id costs the same, and the one chosen can be the tenant-wide one
 * (libs/projections/src/query-identity.ts). INSERT … ON CONFLICT is safe: it probes its arbiter
 * index whatever the plan.
 *
 * Every generic plan made on a young table is made again once that table is analyzed: the broker's
 * statistics pass (PlannerStatistics, libs/retention) ANALYZEs a table after each tenth of growth,
 * so such a plan outlives that growth by one interval at most. Made on a never-analyzed log, the
 * feed's (readFeed) and the LLM calls' per-query counts (calls-per-query.ts on llm_calls) read every
 * row of the tenant.
 */
export const PREPARED = sql.raw(`${MARK} `);

const names = new Map<string, string>();
function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) names.set(text, (name = `ark_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`));
  return name;
}

/**
 * Makes a pooled client send marked statements as named prepared statements. node-postgres keeps
 * what a connection has prepared and skips the Parse step for a name it has seen, so a marked
 * statement costs a Bind and Execute. Other statements, and calls with a config object (cursors),
 * pass through unchanged.
 */
export function prepareMarkedStatements(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (typeof text === 'string' && text.startsWith(MARK) && args.length <= 2 && (values === undefined || Array.isArray(values))) {
      return query({ name: statementName(text), text, values });
    }
    return query(...args);
  };
}
