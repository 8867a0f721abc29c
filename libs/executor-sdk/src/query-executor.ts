import { setTimeout as sleep } from 'node:timers/promises';
import { BrokerApi, BrokerError, type BrokerApiOptions, type ClaimedQuery } from './broker-api.js';

/** What a handler gets for one claimed query. */
export interface QueryContext {
  readonly query: ClaimedQuery;
  /** Aborted when a cancel was requested (heartbeat), the lease was lost (409) or the executor stops. */
  readonly signal: AbortSignal;
  /** Streams LLM chunks of the query's answer (its session and UID are added under `ark`). */
  streamChunk(chunk: Record<string, unknown>): Promise<void>;
  /** Ends the chunk stream. */
  completeStream(): Promise<void>;
  /** An operation event of the query (e.g. `ToolCallStart`), with the query's ids filled in. */
  emitEvent(reason: string, message: string, data?: Record<string, unknown>): Promise<void>;
}

/** Runs one query; its result is the `response` of `done`. Throwing reports `error`. */
export type QueryHandler = (context: QueryContext) => Promise<unknown>;

export interface QueryExecutorOptions extends BrokerApiOptions {
  /** Stable per executor process; the broker lists it (GET /v2/executors) and fences reports by it. */
  executorId: string;
  /** Narrow the namespaces served (within the token's binding); absent: all the token may serve. */
  namespaces?: readonly string[];
  /** Queries run at once (default 1). */
  concurrency?: number;
  /** Lease per claim (default 30 s); heartbeats every third of it. */
  leaseSeconds?: number;
  /** Long-poll of each claim (default 20 s). */
  waitSeconds?: number;
  /** Backoff after a failed claim: doubling from `minMs` to `maxMs`, with jitter (defaults 200 ms, 10 s). */
  backoff?: { minMs: number; maxMs: number };
  log?: (message: string) => void;
}

/** Why a query's signal was aborted. */
export type StopReason = 'canceled' | 'lease-lost' | 'shutdown';

/**
 * The executor side of the protocol (docs/executors.md): a claim loop (long-poll, backoff on
 * failures), per query a heartbeat timer that learns of cancels and lost leases, and the phase
 * reports around the handler: `running` before it, then `done` with its result, `error` when it
 * throws, `canceled` when it stopped for a cancel; nothing after a lost lease (the new attempt owns it).
 */
export class QueryExecutor {
  private readonly api: BrokerApi;
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly options: QueryExecutorOptions,
    private readonly handler: QueryHandler,
  ) {
    this.api = new BrokerApi(options);
  }

  get activeQueries(): number {
    return this.running.size;
  }

  start(): void {
    this.loop ??= this.claimLoop();
  }

  /** Stops claiming and aborts the queries in hand (`shutdown`: their leases lapse and they are reassigned or lost, per query). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    await Promise.all(this.running);
  }

  private log(message: string): void {
    this.options.log?.(`[executor ${this.options.executorId}] ${message}`);
  }

  private async claimLoop(): Promise<void> {
    const concurrency = this.options.concurrency ?? 1;
    const backoff = this.options.backoff ?? { minMs: 200, maxMs: 10_000 };
    let delayMs = backoff.minMs;
    while (!this.stopping.signal.aborted) {
      if (this.running.size >= concurrency) {
        await Promise.race(this.running);
        continue;
      }
      let claimed: ClaimedQuery[];
      try {
        claimed = await this.api.claim(
          this.options.executorId,
          {
            max: concurrency - this.running.size,
            waitSeconds: this.options.waitSeconds ?? 20,
            leaseSeconds: this.options.leaseSeconds ?? 30,
            ...(this.options.namespaces ? { namespaces: this.options.namespaces } : {}),
          },
          this.stopping.signal,
        );
        delayMs = backoff.minMs;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        this.log(`claim failed (retrying in ${delayMs} ms): ${(error as Error).message}`);
        await sleep(delayMs * (0.5 + Math.random() / 2), undefined, { signal: this.stopping.signal }).catch(() => undefined);
        delayMs = Math.min(delayMs * 2, backoff.maxMs);
        continue;
      }
      for (const query of claimed) {
        const run = this.execute(query).finally(() => this.running.delete(run));
        this.running.add(run);
      }
    }
  }

  private async execute(query: ClaimedQuery): Promise<void> {
    const { executorId } = this.options;
    const stop = new AbortController();
    let reason: StopReason | undefined;
    const abort = (why: StopReason) => {
      reason ??= why;
      stop.abort(why);
    };
    const onShutdown = () => abort('shutdown');
    this.stopping.signal.addEventListener('abort', onShutdown, { once: true });
    const heartbeatMs = ((this.options.leaseSeconds ?? 30) * 1000) / 3;
    const heartbeat = setInterval(() => {
      this.api.heartbeat(query.queryId, executorId, query.attempt).then(
        (answer) => answer.cancelRequested && abort('canceled'),
        (error: unknown) => {
          if (error instanceof BrokerError && (error.isStaleAttempt || error.status === 404)) abort('lease-lost');
          else this.log(`heartbeat of ${query.queryId} failed: ${(error as Error).message}`);
        },
      );
    }, heartbeatMs);
    const report = (phase: 'running' | 'done' | 'error' | 'canceled', extra: { response?: unknown; error?: unknown } = {}) =>
      this.api.report(query.queryId, { executorId, attempt: query.attempt, phase, ...extra });
    try {
      await report('running');
      if (query.cancelRequested) abort('canceled');
      let response: unknown;
      let failure: unknown;
      try {
        response = await this.handler(this.contextOf(query, stop.signal));
      } catch (error) {
        failure = error;
      }
      if (reason === 'lease-lost' || reason === 'shutdown') return;
      if (reason === 'canceled') await report('canceled');
      else if (failure !== undefined) await report('error', { error: { reason: 'ExecutorError', message: messageOf(failure) } });
      else await report('done', { response });
    } catch (error) {
      // A stale attempt: the query is someone else's now; anything else: its lease will lapse.
      this.log(`query ${query.queryId} attempt ${query.attempt}: ${(error as Error).message}`);
    } finally {
      clearInterval(heartbeat);
      this.stopping.signal.removeEventListener('abort', onShutdown);
    }
  }

  private contextOf(query: ClaimedQuery, signal: AbortSignal): QueryContext {
    const ids = { queryId: query.queryId, queryName: query.name, queryNamespace: query.namespace, sessionId: query.sessionId };
    return {
      query,
      signal,
      streamChunk: (chunk) => this.api.streamChunks(query.name, [{ ...chunk, ark: { query: query.queryId, session: query.sessionId } }]),
      completeStream: () => this.api.completeStream(query.name),
      emitEvent: (reason, message, data = {}) => this.api.operationEvent({ reason, message, data: { ...ids, ...data } }),
    };
  }
}

function messageOf(failure: unknown): string {
  return failure instanceof Error ? failure.message : typeof failure === 'string' ? failure : JSON.stringify(failure);
}
