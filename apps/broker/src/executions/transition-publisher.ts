import { Injectable, Logger } from '@nestjs/common';
import { EventAppender, QUERY_EXECUTION_EVENTS as EV, type SessionEvent } from '#ark/event-store';
import { ExecutionRepository, type ExecutionPhase, type TransitionRow } from './execution.repository.js';

/** The phase a transition leaves its query in, where the type alone says it (a republished row carries the query's current phase). */
const PHASE_AFTER: Readonly<Record<string, ExecutionPhase>> = {
  [EV.submitted]: 'pending',
  [EV.assigned]: 'assigned',
  [EV.started]: 'running',
  [EV.completed]: 'done',
  [EV.failed]: 'error',
  [EV.canceled]: 'canceled',
  [EV.reassigned]: 'pending',
  [EV.retried]: 'pending',
};

/** Most transitions one claims' append carries (the group-commit writer's batch bound is larger). */
const SOON_BATCH_ROWS = 500;

/**
 * Appends each committed transition of the queue to the query's session as an ark event, through
 * the one append port, then marks it published. A transition whose append failed (or whose broker
 * stopped first) stays unpublished and the sweeper appends it again: the dedupe key
 * `query-execution:<position>` makes a repeated append a no-op, so each transition is in the log once.
 */
@Injectable()
export class TransitionPublisher {
  private readonly logger = new Logger('QueryExecutions');
  /** Positions whose events are in the log, by tenant, to mark published on the next turn. */
  private readonly unmarked = new Map<string, string[]>();
  /** Claims' transitions waiting for their tenant's append in flight to finish. */
  private readonly soon = new Map<string, TransitionRow[]>();

  constructor(
    private readonly appender: EventAppender,
    private readonly repository: ExecutionRepository,
  ) {}

  /**
   * Resolves once the events are in the log (so a read after the answer sees them). Never throws: the
   * transition is committed whatever happens to its event (the sweeper retries).
   */
  async publish(tenantId: string, rows: readonly TransitionRow[]): Promise<void> {
    if (rows.length === 0) return;
    try {
      await this.appender.append({ tenantId }, rows.map(toSessionEvent));
    } catch (error) {
      this.logger.warn(`query transitions not yet in the log (the sweeper retries): ${(error as Error).message}`);
      return;
    }
    this.markSoon(
      tenantId,
      rows.map((r) => r.position),
    );
  }

  /**
   * The same without waiting: for a claim, whose answer must not wait for a group-commit round (it
   * halved claims/s). The events still come in order: the query's next report appends its
   * still-unpublished earlier transitions before its own (ExecutionRepository.report), and the
   * sweeper any left behind. One append per tenant runs at a time; claims answered meanwhile join
   * the next one, so under load one append carries many claims' events instead of one each.
   */
  publishSoon(tenantId: string, rows: readonly TransitionRow[]): void {
    if (rows.length === 0) return;
    const queue = this.soon.get(tenantId);
    if (queue) {
      queue.push(...rows);
      return;
    }
    this.soon.set(tenantId, [...rows]);
    void this.drainSoon(tenantId);
  }

  private async drainSoon(tenantId: string): Promise<void> {
    const queue = this.soon.get(tenantId)!;
    while (queue.length > 0) await this.publish(tenantId, queue.splice(0, SOON_BATCH_ROWS));
    this.soon.delete(tenantId);
  }

  /**
   * Not awaited: the caller's answer does not wait for the bookkeeping; if it fails the sweeper
   * appends again (a no-op). Gathered per tenant until the next turn of the event loop, so that the
   * transitions one group-commit batch carried are marked by one statement.
   */
  private markSoon(tenantId: string, positions: readonly string[]): void {
    const queued = this.unmarked.get(tenantId);
    if (queued) queued.push(...positions);
    else this.unmarked.set(tenantId, [...positions]);
    if (this.unmarked.size === 1 && !queued) setImmediate(() => this.markQueued());
  }

  private markQueued(): void {
    const batches = [...this.unmarked];
    this.unmarked.clear();
    for (const [tenantId, positions] of batches) {
      this.repository
        .markPublished({ tenantId }, positions)
        .catch((error: unknown) => this.logger.warn(`query transitions not marked published (the sweeper will): ${(error as Error).message}`));
    }
  }
}

function toSessionEvent(row: TransitionRow): SessionEvent {
  return {
    sessionId: row.session_id,
    event: {
      type: row.transition_type,
      time: row.transition_at,
      queryId: row.query_id,
      queryName: row.name,
      namespace: row.namespace,
      userId: row.user_id,
      source: 'api',
      dedupeKey: `query-execution:${row.position}`,
      data: { ...(row.transition_data as object), executionPhase: PHASE_AFTER[row.transition_type] ?? row.phase, attempt: row.transition_attempt },
    },
  };
}
