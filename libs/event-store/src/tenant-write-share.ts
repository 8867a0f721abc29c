import { WriteShareExceededError } from '#ark/errors';

export interface TenantWriteShareOptions {
  /**
   * Events handed to the group-commit writer at once, all tenants together (0: no fair queuing, every
   * call goes straight to the writer). Enough to keep the writer's batches full; what waits beyond it
   * waits here, per tenant.
   */
  windowEvents: number;
  /** A tenant's events waiting here or in the writer; a call that would pass it is refused (429). */
  tenantMaxEvents: number;
}

/** One tenant's calls: those waiting for the writer, in arrival order, and its events in the writer. */
interface Lane {
  waiting: { events: number; admit: () => void }[];
  /** Events waiting here or in the writer. */
  outstanding: number;
  inWriter: number;
}

/**
 * Each tenant's fair share of the write path, in front of the group-commit writer (whose queue is one
 * FIFO). At most `windowEvents` events are in the writer at once; a call beyond that waits here, and
 * whenever room frees up the waiting call of the tenant with the fewest events in the writer goes
 * next (ties: the tenant that waited first). So a tenant sending 30,000 events a second uses what the
 * others leave, but a quiet tenant's next call never queues behind its backlog. A tenant holding
 * `tenantMaxEvents` is refused with 429 + Retry-After; other tenants are not.
 * Hand-written: it is a few lines around the writer's own promise, and the generic limiters
 * (p-limit, bottleneck) queue first-come-first-served or per key, not across keys.
 */
export class TenantWriteShare {
  private readonly lanes = new Map<string, Lane>();
  /** Tenants with waiting calls, in the order they began to wait. */
  private readonly queued: Lane[] = [];
  private admitted = 0;

  constructor(private readonly options: TenantWriteShareOptions) {}

  /** Runs `write` (the writer's append) once this tenant's turn comes; refuses when the tenant holds its whole share. */
  async run<T>(tenantId: string, events: number, write: () => Promise<T>): Promise<T> {
    const lane = this.lanes.get(tenantId) ?? { waiting: [], outstanding: 0, inWriter: 0 };
    if (lane.outstanding > 0 && lane.outstanding + events > this.options.tenantMaxEvents) {
      throw new WriteShareExceededError(
        `this tenant has ${lane.outstanding} events waiting to be written and its share is ${this.options.tenantMaxEvents}; retry later`,
        1,
      );
    }
    lane.outstanding += events;
    this.lanes.set(tenantId, lane);
    const shared = this.options.windowEvents > 0;
    try {
      if (shared) await this.turn(lane, events);
      return await write();
    } finally {
      lane.outstanding -= events;
      if (lane.outstanding === 0) this.lanes.delete(tenantId);
      if (shared) {
        this.admitted -= events;
        lane.inWriter -= events;
        this.letIn();
      }
    }
  }

  /** A tenant's events waiting or being written. */
  outstanding(tenantId: string): number {
    return this.lanes.get(tenantId)?.outstanding ?? 0;
  }

  private turn(lane: Lane, events: number): Promise<void> | undefined {
    if (this.queued.length === 0 && this.fits(events)) {
      this.enter(lane, events);
      return undefined;
    }
    return new Promise((admit) => {
      if (lane.waiting.length === 0) this.queued.push(lane);
      lane.waiting.push({ events, admit });
      this.letIn();
    });
  }

  private letIn(): void {
    while (this.queued.length > 0) {
      let next = 0;
      for (let i = 1; i < this.queued.length; i++) if (this.queued[i]!.inWriter < this.queued[next]!.inWriter) next = i;
      const lane = this.queued[next]!;
      const call = lane.waiting[0]!;
      if (!this.fits(call.events)) return;
      lane.waiting.shift();
      if (lane.waiting.length === 0) this.queued.splice(next, 1);
      this.enter(lane, call.events);
      call.admit();
    }
  }

  /** A call larger than the whole window still goes in, alone. */
  private fits(events: number): boolean {
    return this.admitted === 0 || this.admitted + events <= this.options.windowEvents;
  }

  private enter(lane: Lane, events: number): void {
    this.admitted += events;
    lane.inWriter += events;
  }
}
