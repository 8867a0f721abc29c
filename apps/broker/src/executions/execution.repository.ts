import { Injectable } from '@nestjs/common';
import { sql, type RawBuilder } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, PREPARED, sessionLive, type ReadScope } from '#ark/database';
import { QUERY_EXECUTION_EVENTS as EV } from '#ark/event-store';

/** The NOTIFY channel of the queue: a query became pending (payload: QueueWakeUp as JSON). */
export const QUEUE_CHANNEL = 'ark_query_queue';

/**
 * What a queue NOTIFY says: which tenant, how many queries became pending, in which namespaces
 * (absent: too many to list), and the replica that already woke its own waiters (absent: none did).
 */
export interface QueueWakeUp {
  t: string;
  c: number;
  n?: string[] | null;
  o?: string;
}

export const EXECUTION_PHASES = ['pending', 'assigned', 'running', 'done', 'error', 'canceled'] as const;
export type ExecutionPhase = (typeof EXECUTION_PHASES)[number];
/** What an executor may report: `canceled` acknowledges a cancel it learned of. */
export const REPORTED_PHASES = ['running', 'done', 'error', 'canceled'] as const;
export type ReportedPhase = (typeof REPORTED_PHASES)[number];

/** A row of `query_executions` (migrations/0180). */
export interface ExecutionRow {
  tenant_id: string;
  query_id: string;
  name: string;
  namespace: string;
  session_id: string;
  user_id: string | null;
  target: unknown;
  input: unknown;
  request: unknown;
  phase: ExecutionPhase;
  reason: string | null;
  reassign: 'auto' | 'never';
  max_attempts: number;
  attempt: number;
  assigned_executor: string | null;
  assigned_at: Date | null;
  lease_expires_at: Date | null;
  lease_seconds: number | null;
  cancel_requested: boolean;
  ttl_expires_at: Date | null;
  response: unknown;
  error: unknown;
  submitted_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** An execution as a transition left it, with the transition (a `query_transitions` row) it logged. */
export interface TransitionRow extends ExecutionRow {
  position: string;
  transition_type: string;
  transition_attempt: number;
  transition_at: Date;
  transition_data: unknown;
}

/** One entry of a query's history. */
export interface HistoryRow {
  position: string;
  type: string;
  attempt: number;
  at: Date;
  data: unknown;
}

export interface ExecutorRow {
  executor_id: string;
  namespaces: string[] | null;
  last_seen_at: Date;
  active: string;
}

export interface Submission {
  queryId: string;
  name: string;
  namespace: string;
  sessionId: string;
  userId: string;
  target: unknown;
  input: unknown;
  ttlSeconds: number | null;
  reassign: 'auto' | 'never';
  maxAttempts: number;
  /** The submitted body with defaults filled in, compared on a repeated submit. */
  request: unknown;
}

/** One executor's claim in a round of claims made by one statement (ExecutionRepository.claim). */
export interface ClaimRequest {
  executorId: string;
  max: number;
  leaseSeconds: number;
  /** Record the executor as seen (it was not lately). */
  recordSeen: boolean;
}

/** A claimed query, with the claim of its round (from 0) it went to. */
export interface ClaimedRow extends TransitionRow {
  claim: number;
}

export interface ListFilters {
  phase?: ExecutionPhase;
  namespace?: string;
}

const EXAMPLE_CLAIM: ClaimRequest = { executorId: 'executor-1', max: 10, leaseSeconds: 60, recordSeen: true };

const EXAMPLE_SUBMISSION: Submission = {
  queryId: 'uid',
  name: 'q',
  namespace: 'ns',
  sessionId: 's',
  userId: 'u',
  target: { type: 'agent', name: 'a' },
  input: 'hi',
  ttlSeconds: 600,
  reassign: 'auto',
  maxAttempts: 3,
  request: {},
};

/** Transitions logged by a statement's `moved` rows: the moved rows joined with them (one output row per transition). */
const transitionsOf = (moved: string, logged: string) =>
  sql.raw(`SELECT m.*, l.position::text AS position, l.type AS transition_type, l.attempt AS transition_attempt, l.at AS transition_at,
    l.data AS transition_data FROM ${moved} m JOIN ${logged} l ON l.tenant_id = m.tenant_id AND l.query_id = m.query_id ORDER BY l.position`);

/**
 * The same, preceded by the query's earlier transitions whose events are not known to be in the log
 * yet (a claim answers before its `query.assigned` is appended): publishing them all in position
 * order keeps the session's events in transition order on any replica; the dedupe key makes the copy
 * that arrives second a no-op.
 */
const transitionsAfterUnpublished = (moved: string, logged: string) =>
  sql.raw(`SELECT t.*, t.pos::text AS position FROM (
    SELECT m.*, l.position AS pos, l.type AS transition_type, l.attempt AS transition_attempt, l.at AS transition_at, l.data AS transition_data
    FROM ${moved} m JOIN ${logged} l ON l.tenant_id = m.tenant_id AND l.query_id = m.query_id
    UNION ALL
    SELECT m.*, l.position, l.type, l.attempt, l.at, l.data
    FROM ${moved} m JOIN query_transitions l ON l.tenant_id = m.tenant_id AND l.query_id = m.query_id AND NOT l.published) t ORDER BY t.pos`);

/**
 * The queue's NOTIFY for the rows of `moved` that are now pending, sent on commit (evaluated once, when
 * the first output row is). `origin`: the replica that wakes its own waiters itself once the statement
 * has returned (ClaimWaiters.wake), so its listener passes this one over.
 */
const wakeUp = (moved: string, origin: string | null = null) =>
  sql`(SELECT count(pg_notify(${sql.lit(QUEUE_CHANNEL)}, json_strip_nulls(json_build_object('t', w.tenant_id, 'c', w.c,
      'n', CASE WHEN cardinality(w.n) <= 50 THEN w.n END, 'o', ${origin}::text))::text))
    FROM (SELECT tenant_id, count(*) AS c, array_agg(DISTINCT namespace) AS n FROM ${sql.raw(moved)} WHERE phase = 'pending' GROUP BY tenant_id) w) AS notified`;

/**
 * The query execution queue (`query_executions`, `query_transitions`, `query_executors`,
 * migrations/0180). Each transition is one statement: the state change fenced by its WHERE clause
 * (phase, attempt, executor), the history row that becomes its ark event, and the wake-up of waiting
 * executors when a query became pending, all atomic.
 */
@Injectable()
export class ExecutionRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /** Inserts the query as pending unless its id is taken; answers the new row (with its transition) or the existing one. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, EXAMPLE_SUBMISSION] })
  async submit(
    scope: ReadScope,
    s: Submission,
    wakeOrigin: string | null = null,
  ): Promise<{ created: TransitionRow | undefined; existing: ExecutionRow | undefined }> {
    return inScope(scope, async () => {
      // Prepared: it reads no table but through its INSERT's arbiter index, so any plan will do, and
      // planning it took as long as running it.
      const { rows } = await sql<TransitionRow>`${PREPARED}
        WITH moved AS (
          INSERT INTO query_executions (tenant_id, query_id, name, namespace, session_id, user_id, target, input, request, reassign, max_attempts, ttl_expires_at)
          VALUES (${scope.tenantId}, ${s.queryId}, ${s.name}, ${s.namespace}, ${s.sessionId}, ${s.userId}, ${json(s.target)}, ${json(s.input)},
            ${json(s.request)}, ${s.reassign}, ${s.maxAttempts}, now() + ${s.ttlSeconds}::int * interval '1 second')
          ON CONFLICT (tenant_id, query_id) DO NOTHING RETURNING *
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT tenant_id, query_id, ${EV.submitted}, 0, jsonb_build_object('target', target, 'input', input, 'reassign', reassign, 'maxAttempts', max_attempts,
            'ttlExpiresAt', ttl_expires_at) FROM moved RETURNING *
        )
        SELECT t.*, ${wakeUp('moved', wakeOrigin)} FROM (${transitionsOf('moved', 'logged')}) t`.execute(this.connection.db);
      if (rows[0]) return { created: rows[0], existing: undefined };
      return { created: undefined, existing: await this.find({ tenantId: scope.tenantId }, s.queryId) };
    });
  }

  /**
   * Assigns the oldest pending queries of the namespaces (null: any) to the claims of one round,
   * in the claims' order and up to each one's `max`, skipping rows another round holds, and records
   * the executors that are due as seen. Each namespace's oldest rows are read in order from
   * query_executions_claim_order (migrations/0240) and merged, so a round costs a few index entries
   * however long the backlog; with several namespaces up to the round's total of rows of each are
   * locked and the surplus released on commit (a concurrent round skips them meanwhile). Each row
   * says which claim of the round (`claim`, from 0) it went to.
   */
  @GenerateSql(
    {
      name: 'two claims, recording one executor',
      params: [EXAMPLE_ADMIN, ['ns'], [EXAMPLE_CLAIM, { ...EXAMPLE_CLAIM, executorId: 'executor-2', recordSeen: false }]],
    },
    { name: 'every namespace', params: [EXAMPLE_ADMIN, null, [{ ...EXAMPLE_CLAIM, recordSeen: false }]] },
  )
  async claim(scope: ReadScope, namespaces: readonly string[] | null, claims: readonly ClaimRequest[]): Promise<ClaimedRow[]> {
    const seenIds = [...new Set(claims.filter((c) => c.recordSeen).map((c) => c.executorId))];
    const total = claims.reduce((sum, c) => sum + c.max, 0);
    const seen = sql`seen AS (
          INSERT INTO query_executors (tenant_id, executor_id, namespaces, last_seen_at)
          SELECT ${scope.tenantId}, x.executor_id, ${namespaces}, now() FROM unnest(${seenIds}::text[]) AS x(executor_id)
          ON CONFLICT (tenant_id, executor_id) DO UPDATE SET namespaces = excluded.namespaces, last_seen_at = excluded.last_seen_at
        ),`;
    return inScope(scope, async () => {
      const { rows } = await sql<ClaimedRow>`
        WITH ${seenIds.length > 0 ? seen : sql``} slots AS (
          SELECT (r.claim - 1)::int AS claim, r.executor_id, r.lease_seconds, row_number() OVER (ORDER BY r.claim, g.n) AS slot
          FROM unnest(${claims.map((c) => c.executorId)}::text[], ${claims.map((c) => c.max)}::int[], ${claims.map((c) => c.leaseSeconds)}::int[])
            WITH ORDINALITY AS r(executor_id, max, lease_seconds, claim)
          CROSS JOIN LATERAL generate_series(1, r.max) AS g(n)
        ), picked AS (
          SELECT c.query_id, row_number() OVER (ORDER BY c.submitted_at, c.query_id) AS slot FROM (
            SELECT c.query_id, c.submitted_at FROM ${claimedNamespaces(scope.tenantId, namespaces)} CROSS JOIN LATERAL (
              SELECT query_id, submitted_at FROM query_executions
              WHERE tenant_id = ${scope.tenantId} AND phase = 'pending' AND namespace = n.namespace
              ORDER BY submitted_at, query_id LIMIT ${total} FOR UPDATE SKIP LOCKED
            ) c
            ORDER BY c.submitted_at, c.query_id LIMIT ${total}
          ) c
        ), moved AS (
          UPDATE query_executions e SET phase = 'assigned', attempt = e.attempt + 1, assigned_executor = s.executor_id, assigned_at = now(),
            lease_seconds = s.lease_seconds, lease_expires_at = now() + s.lease_seconds * interval '1 second', updated_at = now()
          FROM picked p JOIN slots s ON s.slot = p.slot WHERE e.tenant_id = ${scope.tenantId} AND e.query_id = p.query_id RETURNING e.*, s.claim
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT tenant_id, query_id, ${EV.assigned}, attempt, jsonb_build_object('executorId', assigned_executor, 'leaseExpiresAt', lease_expires_at) FROM moved
          ORDER BY submitted_at, query_id RETURNING *
        )
        ${transitionsOf('moved', 'logged')}`.execute(this.connection.db);
      return rows;
    });
  }

  /**
   * Extends the lease of the executor's attempt (by the lease it claimed with, or `leaseSeconds`).
   * Undefined: the query is not assigned to this executor and attempt (anymore).
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'uid', 'executor-1', 1, undefined] })
  async heartbeat(scope: ReadScope, queryId: string, executorId: string, attempt: number, leaseSeconds: number | undefined): Promise<ExecutionRow | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<ExecutionRow>`
        WITH moved AS (
          UPDATE query_executions SET lease_seconds = coalesce(${leaseSeconds ?? null}::int, lease_seconds),
            lease_expires_at = now() + coalesce(${leaseSeconds ?? null}::int, lease_seconds) * interval '1 second', updated_at = now()
          WHERE tenant_id = ${scope.tenantId} AND query_id = ${queryId} AND attempt = ${attempt} AND assigned_executor = ${executorId}
            AND phase IN ('assigned', 'running') RETURNING *
        ), seen AS (
          UPDATE query_executors SET last_seen_at = now() WHERE tenant_id = ${scope.tenantId} AND executor_id = ${executorId} AND EXISTS (SELECT 1 FROM moved)
        )
        SELECT * FROM moved`.execute(this.connection.db);
      return rows[0];
    });
  }

  /**
   * Moves the executor's attempt to `phase` (running from assigned; an end from assigned or
   * running). Empty: the query is not in a phase that allows it under this executor and attempt.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'uid', 'executor-1', 1, 'done', { response: 'hello' }] })
  async report(
    scope: ReadScope,
    queryId: string,
    executorId: string,
    attempt: number,
    phase: ReportedPhase,
    outcome: { response?: unknown; error?: unknown; reason?: string },
  ): Promise<TransitionRow[]> {
    const type = { running: EV.started, done: EV.completed, error: EV.failed, canceled: EV.canceled }[phase];
    const from = phase === 'running' ? sql`('assigned')` : sql`('assigned', 'running')`;
    const ended = phase !== 'running';
    const reason = phase === 'error' ? (outcome.reason ?? 'Error') : phase === 'canceled' ? 'Canceled' : null;
    return inScope(scope, async () => {
      const { rows } = await sql<TransitionRow>`
        WITH moved AS (
          UPDATE query_executions SET phase = ${phase}, reason = ${reason}, response = coalesce(${json(outcome.response)}, response),
            error = coalesce(${json(outcome.error)}, error), updated_at = now()
            ${ended ? sql`, lease_expires_at = NULL, finished_at = now()` : sql`, lease_expires_at = now() + lease_seconds * interval '1 second'`}
          WHERE tenant_id = ${scope.tenantId} AND query_id = ${queryId} AND attempt = ${attempt} AND assigned_executor = ${executorId} AND phase IN ${from}
          RETURNING *
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT tenant_id, query_id, ${type}, attempt, jsonb_strip_nulls(jsonb_build_object('executorId', assigned_executor, 'target', target,
            'input', ${phase === 'running' ? sql`input` : sql`NULL::jsonb`}, 'response', response, 'error', error, 'reason', reason)) FROM moved RETURNING *
        )
        ${transitionsAfterUnpublished('moved', 'logged')}`.execute(this.connection.db);
      return rows;
    });
  }

  /**
   * Cancels a pending query at once; marks an assigned or running one cancel-requested (its executor
   * learns it on its next heartbeat). Empty: it had ended, or a cancel was already requested.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'uid'] })
  async cancel(scope: ReadScope, queryId: string): Promise<TransitionRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<TransitionRow>`
        WITH moved AS (
          UPDATE query_executions SET updated_at = now(),
            phase = CASE WHEN phase = 'pending' THEN 'canceled' ELSE phase END,
            reason = CASE WHEN phase = 'pending' THEN 'Canceled' ELSE reason END,
            finished_at = CASE WHEN phase = 'pending' THEN now() ELSE finished_at END,
            cancel_requested = true
          WHERE tenant_id = ${scope.tenantId} AND query_id = ${queryId} AND (phase = 'pending' OR (phase IN ('assigned', 'running') AND NOT cancel_requested))
          RETURNING *
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT tenant_id, query_id, CASE WHEN phase = 'canceled' THEN ${EV.canceled} ELSE ${EV.cancelRequested} END, attempt,
            jsonb_strip_nulls(jsonb_build_object('reason', reason, 'executorId', assigned_executor)) FROM moved RETURNING *
        )
        ${transitionsAfterUnpublished('moved', 'logged')}`.execute(this.connection.db);
      return rows;
    });
  }

  /** Puts an ended (`error` or `canceled`) query back to pending, granting it one more attempt. Empty: it is not ended so. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'uid'] })
  async retry(scope: ReadScope, queryId: string): Promise<TransitionRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<TransitionRow>`
        WITH moved AS (
          UPDATE query_executions SET phase = 'pending', reason = NULL, response = NULL, error = NULL, cancel_requested = false,
            assigned_executor = NULL, assigned_at = NULL, lease_expires_at = NULL, finished_at = NULL, ttl_expires_at = NULL,
            max_attempts = greatest(max_attempts, attempt + 1), updated_at = now()
          WHERE tenant_id = ${scope.tenantId} AND query_id = ${queryId} AND phase IN ('error', 'canceled')
          RETURNING *
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT tenant_id, query_id, ${EV.retried}, attempt, jsonb_build_object('maxAttempts', max_attempts) FROM moved RETURNING *
        )
        SELECT t.*, ${wakeUp('moved')} FROM (${transitionsOf('moved', 'logged')}) t`.execute(this.connection.db);
      return rows;
    });
  }

  /**
   * Leases that ran out: the query goes back to pending (`reassign: auto` with attempts left), or
   * ends: canceled when a cancel was requested, else `error` with reason ExecutorLost. Each logs
   * `query.lease.expired` and then `query.reassigned`, `query.failed` or `query.canceled`.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 1000] })
  async expireLeases(scope: ReadScope, limit: number): Promise<TransitionRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<TransitionRow>`
        WITH lost AS (
          SELECT query_id, assigned_executor AS lost_executor FROM query_executions
          WHERE tenant_id = ${scope.tenantId} AND phase IN ('assigned', 'running') AND lease_expires_at <= now()
          ORDER BY lease_expires_at LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ), moved AS (
          UPDATE query_executions e SET updated_at = now(), lease_expires_at = NULL,
            phase = CASE WHEN e.cancel_requested THEN 'canceled' WHEN e.reassign = 'auto' AND e.attempt < e.max_attempts THEN 'pending' ELSE 'error' END,
            reason = CASE WHEN e.cancel_requested THEN 'Canceled' WHEN e.reassign = 'auto' AND e.attempt < e.max_attempts THEN NULL ELSE 'ExecutorLost' END,
            error = CASE WHEN NOT e.cancel_requested AND NOT (e.reassign = 'auto' AND e.attempt < e.max_attempts)
              THEN jsonb_build_object('reason', 'ExecutorLost', 'message', format('executor %s lost its lease on attempt %s', l.lost_executor, e.attempt)) END,
            finished_at = CASE WHEN e.cancel_requested OR NOT (e.reassign = 'auto' AND e.attempt < e.max_attempts) THEN now() END,
            assigned_executor = CASE WHEN e.reassign = 'auto' AND e.attempt < e.max_attempts AND NOT e.cancel_requested THEN NULL ELSE e.assigned_executor END
          FROM lost l WHERE e.tenant_id = ${scope.tenantId} AND e.query_id = l.query_id
          RETURNING e.*, l.lost_executor
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT m.tenant_id, m.query_id, v.type, m.attempt, jsonb_strip_nulls(jsonb_build_object('executorId', m.lost_executor, 'reason', m.reason, 'error', m.error))
          FROM moved m CROSS JOIN LATERAL (VALUES (1, ${EV.leaseExpired}),
            (2, CASE m.phase WHEN 'pending' THEN ${EV.reassigned} WHEN 'canceled' THEN ${EV.canceled} ELSE ${EV.failed} END)) v(n, type)
          ORDER BY m.query_id, v.n RETURNING *
        )
        SELECT t.*, ${wakeUp('moved')} FROM (${transitionsOf('moved', 'logged')}) t`.execute(this.connection.db);
      return rows;
    });
  }

  /** Pending queries past their TTL: canceled with reason Expired. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 1000] })
  async expireTtls(scope: ReadScope, limit: number): Promise<TransitionRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<TransitionRow>`
        WITH due AS (
          SELECT query_id FROM query_executions WHERE tenant_id = ${scope.tenantId} AND phase = 'pending' AND ttl_expires_at <= now()
          LIMIT ${limit} FOR UPDATE SKIP LOCKED
        ), moved AS (
          UPDATE query_executions e SET phase = 'canceled', reason = 'Expired', finished_at = now(), updated_at = now()
          FROM due d WHERE e.tenant_id = ${scope.tenantId} AND e.query_id = d.query_id RETURNING e.*
        ), logged AS (
          INSERT INTO query_transitions (tenant_id, query_id, type, attempt, data)
          SELECT tenant_id, query_id, ${EV.canceled}, attempt, jsonb_build_object('reason', reason) FROM moved RETURNING *
        )
        ${transitionsOf('moved', 'logged')}`.execute(this.connection.db);
      return rows;
    });
  }

  /** Transitions whose ark event was not appended within `graceSeconds` (the broker stopped between the two). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 5, 1000] })
  async unpublished(scope: ReadScope, graceSeconds: number, limit: number): Promise<TransitionRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<TransitionRow>`
        SELECT e.*, l.position::text AS position, l.type AS transition_type, l.attempt AS transition_attempt, l.at AS transition_at, l.data AS transition_data
        FROM query_transitions l JOIN query_executions e ON e.tenant_id = l.tenant_id AND e.query_id = l.query_id
        WHERE l.tenant_id = ${scope.tenantId} AND NOT l.published AND l.at <= now() - ${graceSeconds}::int * interval '1 second'
        ORDER BY l.position LIMIT ${limit}`.execute(this.connection.db);
      return rows;
    });
  }

  /** The transitions' events are in the log. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, ['1', '2']] })
  async markPublished(scope: ReadScope, positions: readonly string[]): Promise<void> {
    await inScope(scope, () =>
      sql`UPDATE query_transitions SET published = true WHERE tenant_id = ${scope.tenantId} AND position = ANY (${positions as string[]}::bigint[])`.execute(
        this.connection.db,
      ),
    );
  }

  /** The tenants with work for the sweeper (migrations/functions/ark_query_execution_due_tenants.sql). */
  @GenerateSql({ params: [5] })
  async dueTenants(publishGraceSeconds: number): Promise<string[]> {
    const { rows } = await sql<{
      tenants: string[];
    }>`SELECT ark_query_execution_due_tenants(${publishGraceSeconds}::int * interval '1 second') AS tenants`.execute(this.connection.db);
    return rows[0]?.tenants ?? [];
  }

  /**
   * Sessions holding unfinished queries that would expire within `withinSeconds` are kept open
   * `keepSeconds` from now (migrations/functions/ark_keep_working_sessions_open.sql); how many.
   */
  @GenerateSql({ params: [120, 240] })
  async keepWorkingSessionsOpen(withinSeconds: number, keepSeconds: number): Promise<number> {
    const { rows } = await sql<{ kept: number }>`
      SELECT ark_keep_working_sessions_open(${withinSeconds}::int * interval '1 second', ${keepSeconds}::int * interval '1 second') AS kept`.execute(
      this.connection.db,
    );
    return rows[0]?.kept ?? 0;
  }

  /** Executors not heard from for `idleSeconds` and holding no query, deleted (migrations/functions/ark_forget_idle_executors.sql); how many. */
  @GenerateSql({ params: [3600] })
  async forgetIdleExecutors(idleSeconds: number): Promise<number> {
    const { rows } = await sql<{ forgotten: number }>`
      SELECT ark_forget_idle_executors(${idleSeconds}::int * interval '1 second') AS forgotten`.execute(this.connection.db);
    return rows[0]?.forgotten ?? 0;
  }

  /** A query of the queue, if the scope sees its session. */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, 'uid'] }, { name: 'reader', params: [EXAMPLE_READER, 'uid'] })
  async find(scope: ReadScope, queryId: string): Promise<ExecutionRow | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<ExecutionRow>`
        SELECT e.* FROM query_executions e WHERE e.tenant_id = ${scope.tenantId} AND e.query_id = ${queryId} AND ${sessionLive(scope, 'e')}`.execute(
        this.connection.db,
      );
      return rows[0];
    });
  }

  /** The query's transitions, oldest first (at most `limit`). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'uid', 100] })
  async history(scope: ReadScope, queryId: string, limit: number): Promise<HistoryRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<HistoryRow>`
        SELECT position::text AS position, type, attempt, at, data FROM query_transitions
        WHERE tenant_id = ${scope.tenantId} AND query_id = ${queryId} ORDER BY query_transitions.position LIMIT ${limit}`.execute(this.connection.db);
      return rows;
    });
  }

  /** A page of the queue, newest first, older than `before` (submitted_at in microseconds, query id). */
  @GenerateSql(
    { name: 'admin', params: [EXAMPLE_ADMIN, { phase: 'pending', namespace: 'ns' }, 50, undefined] },
    { name: 'reader, next page', params: [EXAMPLE_READER, {}, 50, [1735689600000000, 'uid']] },
  )
  async list(
    scope: ReadScope,
    filters: ListFilters,
    limit: number,
    before: readonly [number, string] | undefined,
  ): Promise<(ExecutionRow & { submitted_us: string })[]> {
    const submittedUs = sql`(extract(epoch FROM e.submitted_at) * 1000000)::bigint`;
    const where: RawBuilder<unknown>[] = [sql`e.tenant_id = ${scope.tenantId}`, sessionLive(scope, 'e')];
    if (filters.phase) where.push(sql`e.phase = ${filters.phase}`);
    if (filters.namespace) where.push(sql`e.namespace = ${filters.namespace}`);
    if (before) where.push(sql`(${submittedUs}, e.query_id) < (${before[0]}::bigint, ${before[1]})`);
    return inScope(scope, async () => {
      const { rows } = await sql<ExecutionRow & { submitted_us: string }>`
        SELECT e.*, ${submittedUs} AS submitted_us FROM query_executions e WHERE ${sql.join(where, sql` AND `)}
        ORDER BY e.submitted_at DESC, e.query_id DESC LIMIT ${limit}`.execute(this.connection.db);
      return rows;
    });
  }

  /** Executors seen within `liveSeconds` or holding queries, with how many they hold. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 60] })
  async executors(scope: ReadScope, liveSeconds: number): Promise<ExecutorRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<ExecutorRow>`
        SELECT x.executor_id, x.namespaces, x.last_seen_at, count(e.query_id)::text AS active
        FROM query_executors x
        LEFT JOIN query_executions e ON e.tenant_id = x.tenant_id AND e.assigned_executor = x.executor_id AND e.phase IN ('assigned', 'running')
        WHERE x.tenant_id = ${scope.tenantId}
        GROUP BY x.executor_id, x.namespaces, x.last_seen_at
        HAVING x.last_seen_at > now() - ${liveSeconds}::int * interval '1 second' OR count(e.query_id) > 0
        ORDER BY x.executor_id`.execute(this.connection.db);
      return rows;
    });
  }
}

/**
 * The namespaces a claim serves, as rows `n(namespace)`: the given ones, or (null) every namespace
 * with pending queries, found by skipping through the claim index one namespace at a time.
 */
function claimedNamespaces(tenantId: string, namespaces: readonly string[] | null): RawBuilder<unknown> {
  if (namespaces) return sql`unnest(${namespaces}::text[]) AS n(namespace)`;
  return sql`(WITH RECURSIVE pending(namespace) AS (
      SELECT min(namespace) FROM query_executions WHERE tenant_id = ${tenantId} AND phase = 'pending'
      UNION ALL
      SELECT (SELECT min(q.namespace) FROM query_executions q WHERE q.tenant_id = ${tenantId} AND q.phase = 'pending' AND q.namespace > p.namespace)
      FROM pending p WHERE p.namespace IS NOT NULL
    ) SELECT namespace FROM pending WHERE namespace IS NOT NULL) AS n`;
}

/** A JSON value as a jsonb parameter (undefined: SQL null). */
function json(value: unknown): RawBuilder<unknown> {
  return value === undefined ? sql`NULL::jsonb` : sql`${JSON.stringify(value)}::jsonb`;
}
