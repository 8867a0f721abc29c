import type { Kysely } from 'kysely';
import { tenantScope, type Database } from '#ark/database';
import { MalformedInputError, UnavailableError } from '#ark/errors';
import type { AppendedEvent, ArkEvent, StreamEvent } from './ark-event.js';
import type { AppendBatchResult, EventLogRepository } from './event-log.repository.js';
import type { InlineProjector } from './inline-projector.js';
import { outsideTraces } from '#ark/tracing';
import type { WorkStepResolver } from './work-step-resolver.js';

export interface GroupCommitOptions {
  /** Extra wait to gather appends before a batch starts; 0 batches only what queued meanwhile. */
  windowMs: number;
  /** A batch stops taking requests once it holds this many events (one request is never split). */
  maxBatchEvents: number;
  /** Queue bound: past it `append` fails fast with WriteQueueFullError. */
  maxQueuedEvents: number;
  /** Batches committing at once. */
  maxInFlight: number;
}

/** The write queue is full; the caller should retry later (HTTP 503 + Retry-After). */
export class WriteQueueFullError extends UnavailableError {
  constructor(retryAfterSeconds: number) {
    super('the write queue is full; retry later', retryAfterSeconds);
  }
}

/** What each refusal of the caller's data means, in the caller's terms (PostgreSQL's own text names its internals). */
const REFUSALS: Record<string, string> = {
  '22P05': 'a text holds a character PostgreSQL cannot store (\\u0000)',
  '22021': 'a text is not valid UTF-8',
  '22008': 'a time is out of range',
  '22003': 'a number is out of range',
  '54000': 'an id or key is too long to index',
  '54001': 'a value nests too deeply',
};

/** PostgreSQL refused the call's own data (e.g. a \u0000 in JSON): the caller's fault, nothing stored. */
export class UnstorableEventsError extends MalformedInputError {
  /** `sqlState`: PostgreSQL's SQLSTATE; its message names its internals and is not passed on. */
  constructor(readonly sqlState: string) {
    super(`the events cannot be stored: ${REFUSALS[sqlState] ?? 'a value is not valid for its column'}`);
  }
}

/** SQLSTATE class 22 is "data exception": bad values, not a broken database; 54000/54001 are values too long or deep. */
function asCallerError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && (code.startsWith('22') || code === '54000' || code === '54001') ? new UnstorableEventsError(code) : error;
}

/** One committed group-commit transaction. */
export interface CommittedBatch {
  requests: number;
  /** Events in the calls, duplicates included. */
  events: number;
  seconds: number;
  /** The events it stored (not the duplicates), in each session's sequence order. */
  appended: readonly ArkEvent[];
}

interface PendingAppend {
  items: readonly StreamEvent[];
  resolve: (results: AppendedEvent[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: concurrent append calls are gathered into one transaction (one lock round, one
 * multi-row INSERT, one projector pass, one NOTIFY, one fsync). Each call is atomic: its events all
 * commit or none do, and a call that fails on its own data is retried alone so it cannot sink the
 * others it was batched with.
 */
export class GroupCommitWriter {
  private readonly queue: PendingAppend[] = [];
  private queuedEvents = 0;
  private inFlight = 0;
  private timer: NodeJS.Immediate | NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly batchObservers: ((batch: CommittedBatch) => void)[] = [];

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: EventLogRepository,
    private readonly projectors: readonly InlineProjector[],
    private readonly options: GroupCommitOptions,
    private readonly steps: WorkStepResolver | null = null,
  ) {}

  /** Appends one call's events (any sessions) atomically; resolves once committed. */
  append(items: readonly StreamEvent[]): Promise<AppendedEvent[]> {
    if (items.length === 0) return Promise.resolve([]);
    if (this.queuedEvents + items.length > this.options.maxQueuedEvents && this.queuedEvents > 0) {
      return Promise.reject(new WriteQueueFullError(1));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ items, resolve, reject });
      this.queuedEvents += items.length;
      this.schedule();
    });
  }

  /** Called after each batch transaction commits. */
  onBatchCommitted(observer: (batch: CommittedBatch) => void): void {
    this.batchObservers.push(observer);
  }

  get queuedEventCount(): number {
    return this.queuedEvents;
  }

  /** Resolves when nothing is queued or committing (graceful shutdown). */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.timer || this.inFlight >= this.options.maxInFlight || this.queue.length === 0) return;
    const run = () => {
      this.timer = undefined;
      // A batch serves many callers: its queries belong to no one request's trace.
      outsideTraces(() => this.flush());
    };
    this.timer = this.options.windowMs > 0 ? setTimeout(run, this.options.windowMs) : setImmediate(run);
  }

  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const batch: PendingAppend[] = [];
      let events = 0;
      while (this.queue.length > 0 && (batch.length === 0 || events + this.queue[0]!.items.length <= this.options.maxBatchEvents)) {
        const next = this.queue.shift()!;
        batch.push(next);
        events += next.items.length;
      }
      this.queuedEvents -= events;
      this.inFlight++;
      void this.commit(batch).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) this.idleWaiters.splice(0).forEach((w) => w());
      });
    }
  }

  private async commit(batch: PendingAppend[]): Promise<void> {
    let results: AppendedEvent[];
    try {
      results = await this.committed(batch);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(asCallerError(error));
        return;
      }
      // Find the culprit: each call alone, so the others still commit.
      await Promise.all(batch.map((pending) => this.committed([pending]).then(pending.resolve, (e: unknown) => pending.reject(asCallerError(e)))));
      return;
    }
    let offset = 0;
    for (const pending of batch) {
      pending.resolve(results.slice(offset, offset + pending.items.length));
      offset += pending.items.length;
    }
  }

  /** One transaction for these calls, then the observers; an observer that throws cannot make the batch retry. */
  private async committed(batch: readonly PendingAppend[]): Promise<AppendedEvent[]> {
    const started = performance.now();
    const { results, appended } = await this.runTransaction(batch.flatMap((p) => p.items));
    const committed = { requests: batch.length, events: results.length, seconds: (performance.now() - started) / 1000, appended };
    for (const observe of this.batchObservers) {
      try {
        observe(committed);
      } catch {
        // The events are committed whatever an observer does.
      }
    }
    return results;
  }

  /** One transaction scoped (row-level security) to exactly the tenants of its items. */
  private async runTransaction(items: readonly StreamEvent[]): Promise<AppendBatchResult> {
    const tenants = [...new Set(items.map((i) => i.tenantId))];
    return tenantScope.run(tenants, () =>
      this.db.transaction().execute(async (trx) => {
        const written = this.steps ? await this.steps.resolve(trx, items) : items;
        // The append also queues the transaction's one NOTIFY, delivered on commit.
        const appended = await this.log.append(trx, written);
        await this.project(trx, appended.appended);
        return appended;
      }),
    );
  }

  private async project(trx: Parameters<InlineProjector['project']>[0], appended: readonly ArkEvent[]): Promise<void> {
    if (appended.length === 0) return;
    for (const projector of this.projectors) await projector.project(trx, appended);
  }
}
