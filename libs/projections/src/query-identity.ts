import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '#ark/database';
import { isQuerySubmission, workStepOf, type ArkEvent } from '#ark/event-store';

/**
 * Which `queries` row each event of a batch belongs to. A query is its session + namespace + name
 * within a tenant (every Ark source names it so: spans by `query.name`, operation events by
 * `queryName`); its UID is an alias learned from any event that names both, and its trace another,
 * learned from the spans (which never name the UID). So a span, an operation event and a chunk of one
 * query land on one row whatever their order. A run of a name is keyed by the UID when the first event
 * seen names one, else by its trace (`trace:<id>`), else by its name (`name:<session>/<ns>/<name>`).
 * An event with the same name but another UID, or a span of another trace while the newest run
 * already has its own, is a new run of that name: a new row.
 *
 * Correct under concurrency: the append transaction holds the lock of every session in the batch
 * (ark_append_events) until it commits, so no other writer changes a session's rows between the
 * look-up below and the upsert; the decisions depend only on the session's events in sequence order,
 * so a rebuild (which replays in that order) makes the same ones.
 */
export interface QueryKeys<E extends QueryReport = ArkEvent> {
  /** The row key of a work event or operation event; null for events that fold into no query. */
  of(e: E): string | null;
}

/**
 * What the resolution reads of an event: a stored event, or one about to be appended (WorkSteps,
 * whose `globalPosition` is its index in the batch: only the order matters).
 */
export type QueryReport = Pick<
  ArkEvent,
  'tenantId' | 'sessionId' | 'queryId' | 'queryName' | 'namespace' | 'traceId' | 'source' | 'type' | 'data' | 'globalPosition'
>;

interface Run {
  key: string;
  uid: string | null;
  trace: string | null;
}

interface KnownRow {
  tenant_id: string;
  session_id: string;
  namespace: string | null;
  query_name: string | null;
  query_key: string;
  query_id: string | null;
  trace_id: string | null;
  first_position: string | number;
}

const nameOf = (tenant: string, session: string, namespace: string | null, name: string) => `${tenant}\u0000${session}\u0000${namespace ?? ''}\u0000${name}`;
const aliasOf = (tenant: string, id: string) => `${tenant}\u0000${id}`;

const distinct = (keys: string[][]) => [...new Map(keys.map((k) => [k.join('\u0000'), k])).values()];

/** Events that fold into a `queries` row: operation events, work steps and a query's submission to the executors' queue. */
function foldsIntoQuery(e: QueryReport): boolean {
  if (e.source === 'chunk' || e.source === 'message') return false;
  return e.source === 'operation-event' || workStepOf(e) !== undefined || isQuerySubmission(e);
}

/**
 * The `queries` rows found so far in one transaction, by the key each was looked up under (the newest
 * run of a name in its session, every row of a UID, every row of a trace), so a second resolution in
 * the same transaction reads only keys it has not seen. Valid while nothing writes `queries` in
 * between: WorkSteps resolves before the append, WorkProjector after it, and the projectors that run
 * between them write other tables.
 */
export class QueryLookups {
  private readonly names = new Map<string, KnownRow | null>();
  private readonly uids = new Map<string, KnownRow[]>();
  private readonly traces = new Map<string, KnownRow[]>();

  /** The rows of these keys, each once, in (first_position, query_key) order; one statement for the keys not seen yet. */
  async rowsOf(trx: Transaction<Database>, names: string[][], uids: string[][], traces: string[][]): Promise<KnownRow[]> {
    const id = (k: string[]) => k.join('\u0000');
    const newNames = names.filter((k) => !this.names.has(id(k)));
    const newUids = uids.filter((k) => !this.uids.has(id(k)));
    const newTraces = traces.filter((k) => !this.traces.has(id(k)));
    if (newNames.length + newUids.length + newTraces.length > 0) {
      for (const k of newNames) this.names.set(id(k), null);
      for (const k of newUids) this.uids.set(id(k), []);
      for (const k of newTraces) this.traces.set(id(k), []);
      // One index probe per key: the newest run of each name in its session (older runs matter only
      // when an event names their UID or trace, which the other two probes find). Planned on every
      // call, not prepared: a generic plan fixed while `queries` was a few pages (no statistics yet)
      // scanned it for every key once it had grown (test/append-plans.test.ts). So only the probes that
      // have keys are in the statement: each adds to its planning (0.15 ms a probe on a quiet server).
      const probes = [
        newNames.length > 0 &&
          sql`SELECT 'n' AS probe, k.t AS k1, k.s AS k2, k.n AS k3, q.* FROM unnest(
              ${newNames.map((k) => k[0])}::text[], ${newNames.map((k) => k[1])}::text[], ${newNames.map((k) => k[2])}::text[]) AS k(t, s, n)
            CROSS JOIN LATERAL (SELECT ${KNOWN_COLUMNS} FROM queries q WHERE q.tenant_id = k.t AND q.query_name = k.n AND q.session_id = k.s
                                ORDER BY q.first_position DESC LIMIT 1) q`,
        newUids.length > 0 &&
          sql`SELECT 'u' AS probe, k.t AS k1, k.id AS k2, NULL AS k3, q.* FROM unnest(${newUids.map((k) => k[0])}::text[], ${newUids.map((k) => k[1])}::text[]) AS k(t, id)
            CROSS JOIN LATERAL (SELECT ${KNOWN_COLUMNS} FROM queries q WHERE q.tenant_id = k.t AND q.query_id = k.id) q`,
        newTraces.length > 0 &&
          sql`SELECT 't' AS probe, k.t AS k1, k.tr AS k2, NULL AS k3, q.* FROM unnest(${newTraces.map((k) => k[0])}::text[], ${newTraces.map((k) => k[1])}::text[]) AS k(t, tr)
            CROSS JOIN LATERAL (SELECT ${KNOWN_COLUMNS} FROM queries q WHERE q.tenant_id = k.t AND q.trace_id = k.tr) q`,
      ].filter((p): p is RawBuilder<unknown> => p !== false);
      const { rows } = await sql<
        KnownRow & { probe: 'n' | 'u' | 't'; k1: string; k2: string; k3: string | null }
      >`${sql.join(probes, sql` UNION ALL `)}`.execute(trx);
      for (const { probe, k1, k2, k3, ...row } of rows) {
        if (probe === 'n') this.names.set(id([k1, k2, k3!]), row);
        else (probe === 'u' ? this.uids : this.traces).get(id([k1, k2]))!.push(row);
      }
    }
    const found = new Map<string, KnownRow>();
    for (const k of names) {
      const row = this.names.get(id(k));
      if (row) found.set(row.query_key, row);
    }
    for (const k of uids) for (const row of this.uids.get(id(k))!) found.set(row.query_key, row);
    for (const k of traces) for (const row of this.traces.get(id(k))!) found.set(row.query_key, row);
    return [...found.values()].sort(
      (a, b) => Number(a.first_position) - Number(b.first_position) || (a.query_key < b.query_key ? -1 : a.query_key > b.query_key ? 1 : 0),
    );
  }
}

const KNOWN_COLUMNS = sql`q.tenant_id, q.session_id, q.namespace, q.query_name, q.query_key, q.query_id, q.trace_id, q.first_position`;

/** The lookups WorkSteps made in a transaction, until the same transaction's WorkProjector takes them. */
const handedOver = new WeakMap<Transaction<Database>, QueryLookups>();

/** Leaves `lookups` for the next `takeQueryLookups` of this transaction. */
export function handOverQueryLookups(trx: Transaction<Database>, lookups: QueryLookups): void {
  handedOver.set(trx, lookups);
}

/** What `handOverQueryLookups` left for this transaction (once), else a fresh memo. */
export function takeQueryLookups(trx: Transaction<Database>): QueryLookups {
  const lookups = handedOver.get(trx);
  handedOver.delete(trx);
  return lookups ?? new QueryLookups();
}

export async function resolveQueryKeys<E extends QueryReport>(
  trx: Transaction<Database>,
  events: readonly E[],
  lookups: QueryLookups = new QueryLookups(),
): Promise<QueryKeys<E>> {
  const work = events.filter(foldsIntoQuery);
  const runs = new Map<string, Run[]>();
  /** `tenant\0uid` and `tenant\0trace:<id>` of rows already keyed, to the row key. */
  const aliases = new Map<string, string>();
  if (work.length > 0) {
    // Each name, UID and trace once: a batch of spans names its query in every span.
    const names = distinct(work.filter((e) => e.queryName).map((e) => [e.tenantId, e.sessionId, e.queryName!]));
    const uids = distinct(work.filter((e) => e.queryId).map((e) => [e.tenantId, e.queryId!]));
    const traces = distinct(work.filter((e) => e.traceId).map((e) => [e.tenantId, e.traceId!]));
    for (const r of await lookups.rowsOf(trx, names, uids, traces)) {
      if (r.query_id) aliases.set(aliasOf(r.tenant_id, r.query_id), r.query_key);
      if (r.trace_id) aliases.set(aliasOf(r.tenant_id, `trace:${r.trace_id}`), r.query_key);
      if (r.query_name === null) continue;
      const name = nameOf(r.tenant_id, r.session_id, r.namespace, r.query_name);
      runs.set(name, [...(runs.get(name) ?? []), { key: r.query_key, uid: r.query_id, trace: r.trace_id }]);
    }
  }
  const keys = new Map<number, string>();
  for (const e of [...work].sort((a, b) => a.globalPosition - b.globalPosition)) {
    keys.set(e.globalPosition, e.queryName ? runOf(e, e.queryName, runs, aliases) : unnamedKeyOf(e, aliases));
  }
  return { of: (e) => keys.get(e.globalPosition) ?? null };
}

/** An event that names no query: by its UID, else its trace, else its session. */
function unnamedKeyOf(e: QueryReport, aliases: Map<string, string>): string {
  if (e.queryId) return aliases.get(aliasOf(e.tenantId, e.queryId)) ?? e.queryId;
  if (e.traceId) return aliases.get(aliasOf(e.tenantId, `trace:${e.traceId}`)) ?? `trace:${e.traceId}`;
  return `session:${e.sessionId}`;
}

function runOf(e: QueryReport, queryName: string, runs: Map<string, Run[]>, aliases: Map<string, string>): string {
  const name = nameOf(e.tenantId, e.sessionId, e.namespace, queryName);
  const known = runs.get(name) ?? [];
  runs.set(name, known);
  const latest = known.at(-1);
  const remember = (run: Run) => {
    if (run.uid) aliases.set(aliasOf(e.tenantId, run.uid), run.key);
    if (run.trace) aliases.set(aliasOf(e.tenantId, `trace:${run.trace}`), run.key);
    return run.key;
  };
  const uid = e.queryId;
  const trace = e.source === 'operation-event' ? null : e.traceId;
  const same = known.find((r) => (uid !== null && r.uid === uid) || (uid === null && trace !== null && r.trace === trace));
  if (same) return remember(Object.assign(same, { uid: same.uid ?? uid, trace: same.trace ?? trace }));
  const aliased = (uid && aliases.get(aliasOf(e.tenantId, uid))) || (trace && aliases.get(aliasOf(e.tenantId, `trace:${trace}`)));
  if (aliased) {
    const run = { key: aliased, uid, trace };
    known.push(run);
    return remember(run);
  }
  // The newest run learns the alias it lacks; one that has another UID or trace is a finished run of the name.
  if (latest && (uid ? latest.uid === null : latest.trace === null || trace === null)) {
    return remember(Object.assign(latest, { uid: latest.uid ?? uid, trace: latest.trace ?? trace }));
  }
  const run = { key: uid ?? (trace ? `trace:${trace}` : `name:${e.sessionId}/${e.namespace ?? ''}/${queryName}`), uid, trace };
  known.push(run);
  return remember(run);
}
