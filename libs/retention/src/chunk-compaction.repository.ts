import { sql, type Kysely } from 'kysely';
import { GenerateSql, inScope, type Database } from '#ark/database';
import { encodeChunkRun, type RawChunkRow } from '#ark/event-store';

/** A finished chunk run that has chunks no `llm_completions` row covers yet. */
export interface ChunkRunToCompact {
  tenantId: string;
  queryName: string;
  /** `ark.query` of its chunks; '' when they name none. */
  run: string;
  endedAt: Date;
}

interface RawChunkEventRow {
  transaction_id: string;
  global_position: number;
  sequence: number;
  time_us: string;
  recorded_us: string;
  session_id: string;
  namespace: string | null;
  user_id: string | null;
  trace_id: string | null;
  span_id: string | null;
  parent_span_id: string | null;
  data: { chunk?: unknown; index?: unknown } | null;
  expires_at: Date | number;
}

/** What one run's compaction did: how many chunks it folded, or why it left the run as it is. */
export type CompactionOutcome = { folded: number } | { skipped: 'busy' | 'nothing' | 'mixed' };

/** The fields a chunk event of one run must share to be folded (chunk-run-codec.ts keeps them once). */
const SHARED = ['session_id', 'namespace', 'user_id', 'trace_id', 'span_id', 'parent_span_id'] as const;

/** Text of a chunk's first content delta. */
function contentOf(chunk: unknown): string {
  const choice = (chunk as { choices?: { delta?: { content?: unknown } }[] } | null)?.choices?.[0];
  return typeof choice?.delta?.content === 'string' ? choice.delta.content : '';
}

/** The compactor's SQL (docs/architecture.md#compaction). */
export class ChunkCompactionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Runs that ended after `since` and at least `delaySeconds` ago with chunks left to fold, oldest end first (every tenant: ark_chunk_runs_to_compact). */
  @GenerateSql({ params: [new Date('2025-01-01T00:00:00Z'), 300, 100] })
  async runsToCompact(since: Date, delaySeconds: number, maxRuns: number): Promise<ChunkRunToCompact[]> {
    const { rows } = await sql<{ tenant_id: string; query_name: string; run: string; ended_at: Date }>`
      SELECT * FROM ark_chunk_runs_to_compact(${since}, ${delaySeconds}, ${maxRuns})`.execute(this.db);
    return rows.map((r) => ({ tenantId: r.tenant_id, queryName: r.query_name, run: r.run, endedAt: r.ended_at }));
  }

  /**
   * Folds the run's visible chunks that no row covers yet into one `llm_completions` row and gives
   * them `rawTtlSeconds` more at most, in one transaction of the run's tenant. A run another replica
   * is folding (its lock taken) is skipped; so is one whose chunks differ in what a row keeps once.
   */
  @GenerateSql({ tenants: ['t'], params: [{ tenantId: 't', queryName: 'q', run: 'uid', endedAt: new Date('2025-01-01T00:00:00Z') }, 3600] })
  async compactRun(target: ChunkRunToCompact, rawTtlSeconds: number): Promise<CompactionOutcome> {
    const { tenantId, queryName, run } = target;
    return inScope({ tenantId }, () =>
      this.db.transaction().execute(async (trx): Promise<CompactionOutcome> => {
        const { rows: lock } = await sql<{ locked: boolean }>`
          SELECT pg_try_advisory_xact_lock(hashtextextended(${`compact/${tenantId}/${queryName}/${run}`}, 0)) AS locked`.execute(trx);
        if (!lock[0]?.locked) return { skipped: 'busy' };
        const { rows } = await sql<RawChunkEventRow>`
          SELECT e.transaction_id::text AS transaction_id, e.global_position, e.sequence,
                 ((extract(epoch FROM e.time) * 1000000)::bigint)::text AS time_us,
                 ((extract(epoch FROM e.recorded_at) * 1000000)::bigint)::text AS recorded_us,
                 e.session_id, e.namespace, e.user_id, e.trace_id, e.span_id, e.parent_span_id, e.data, e.expires_at
          FROM events e
          WHERE e.tenant_id = ${tenantId} AND e.query_name = ${queryName} AND e.source = 'chunk' AND e.type = 'llm.chunk'
            AND coalesce(e.query_id, '') = ${run} AND e.expires_at > now()
            AND NOT EXISTS (SELECT 1 FROM llm_completions l
                            WHERE l.tenant_id = e.tenant_id AND l.query_name = e.query_name AND l.run = ${run}
                              AND e.global_position BETWEEN l.first_position AND l.last_position)
          ORDER BY e.transaction_id, e.global_position`.execute(trx);
        const first = rows[0];
        const last = rows.at(-1);
        if (!first || !last) return { skipped: 'nothing' };
        const uniform = rows.every(
          (r) =>
            SHARED.every((c) => r[c] === first[c]) &&
            r.data !== null &&
            typeof r.data.index === 'number' &&
            Object.keys(r.data).every((k) => k === 'chunk' || k === 'index'),
        );
        if (!uniform) return { skipped: 'mixed' };
        const raw: RawChunkRow[] = rows.map((r) => ({
          transactionId: r.transaction_id,
          globalPosition: r.global_position,
          sequence: r.sequence,
          timeUs: BigInt(r.time_us),
          recordedUs: BigInt(r.recorded_us),
          index: r.data!.index as number,
          chunk: r.data!.chunk,
        }));
        // 'infinity' reads as a number: a chunk that never expires makes a row that never does.
        const expiresAt = rows.some((r) => !(r.expires_at instanceof Date))
          ? 'infinity'
          : new Date(Math.max(...rows.map((r) => (r.expires_at as Date).getTime()))).toISOString();
        await sql`
          INSERT INTO llm_completions (tenant_id, query_name, run, first_position, last_position, first_tx, last_tx, session_id, namespace,
                                       user_id, trace_id, span_id, parent_span_id, chunk_count, first_at, last_at, text, chunks, expires_at)
          VALUES (${tenantId}, ${queryName}, ${run}, ${first.global_position}, ${last.global_position}, ${first.transaction_id}::xid8,
                  ${last.transaction_id}::xid8, ${first.session_id}, ${first.namespace}, ${first.user_id}, ${first.trace_id}, ${first.span_id},
                  ${first.parent_span_id}, ${rows.length},
                  (SELECT time FROM events WHERE global_position = ${first.global_position}), (SELECT time FROM events WHERE global_position = ${last.global_position}),
                  ${raw.map((r) => contentOf(r.chunk)).join('')}, ${JSON.stringify(encodeChunkRun(raw))}::jsonb, ${expiresAt}::timestamptz)`.execute(trx);
        await sql`
          UPDATE events SET expires_at = least(expires_at, now() + make_interval(secs => ${rawTtlSeconds}))
          WHERE tenant_id = ${tenantId} AND query_name = ${queryName} AND source = 'chunk' AND type = 'llm.chunk'
            AND coalesce(query_id, '') = ${run} AND global_position BETWEEN ${first.global_position} AND ${last.global_position}`.execute(trx);
        return { folded: rows.length };
      }),
    );
  }
}
