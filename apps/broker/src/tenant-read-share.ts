import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, toErrorAnswer } from '#ark/http';
import { LOCAL_IDENTITY, type CallerIdentity } from '#ark/tenancy';
import { PUBLIC } from './authentication.js';

export interface TenantReadShareOptions {
  /** Reads of one tenant in progress at once on this replica (0: no limit). */
  maxConcurrent: number;
  /** Reads of one tenant waiting for their turn; one more is refused with 429. */
  maxQueued: number;
}

/** One tenant's reads: how many are in progress, those waiting (in arrival order), and until when its reads count as heavy. */
interface Lane {
  running: number;
  waiting: (() => void)[];
  heavyUntil: number;
}

/**
 * A tenant whose answer was large (streamed: megabytes of events) reads one at a time for this long
 * after it: such reads are CPU-bound, so running several at once adds nothing to that tenant's
 * throughput and only makes every other tenant's requests wait (docs/architecture.md#tenant-isolation-measured).
 */
const HEAVY_FOR_MS = 10_000;

/**
 * Each tenant's share of the read path on this replica. A read is an API GET answered in one
 * response: it takes a PostgreSQL connection and, for large events, tens of milliseconds of this
 * process's one event loop, which every other tenant's transaction crosses a few times. Past
 * `maxConcurrent` a tenant's reads wait in its own queue, so another tenant's read never waits
 * behind them (after a large answer, past one: markHeavy); past `maxQueued` they get 429 +
 * Retry-After. Watch streams take a turn only until they open (their reads are the watch hub's).
 * Hand-written for the same reason as TenantWriteShare: a few lines, and the generic limiters queue
 * across all callers or need a store.
 */
export class TenantReadShare {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly options: TenantReadShareOptions) {}

  /** Resolves with the function that ends this read's turn; 'full' when the tenant's queue is full. */
  enter(tenantId: string): Promise<() => void> | 'full' {
    const lane = this.laneOf(tenantId);
    const leave = once(() => this.leave(tenantId, lane));
    if (lane.running < this.limitOf(lane)) {
      lane.running++;
      return Promise.resolve(leave);
    }
    if (lane.waiting.length >= this.options.maxQueued) return 'full';
    return new Promise((resolve) => lane.waiting.push(() => resolve(leave)));
  }

  /** The tenant just read something large: for a while its reads go one at a time. */
  markHeavy(tenantId: string): void {
    if (this.options.maxConcurrent === 0) return;
    this.laneOf(tenantId).heavyUntil = performance.now() + HEAVY_FOR_MS;
  }

  /** Reads waiting for their tenant's turn, every tenant together (`ark_broker_read_share_waiting`). */
  get waitingCount(): number {
    let waiting = 0;
    for (const lane of this.lanes.values()) waiting += lane.waiting.length;
    return waiting;
  }

  /** Reads of this tenant in progress and waiting (for tests). */
  load(tenantId: string): { running: number; waiting: number } {
    const lane = this.lanes.get(tenantId);
    return { running: lane?.running ?? 0, waiting: lane?.waiting.length ?? 0 };
  }

  private laneOf(tenantId: string): Lane {
    let lane = this.lanes.get(tenantId);
    if (!lane) this.lanes.set(tenantId, (lane = { running: 0, waiting: [], heavyUntil: 0 }));
    return lane;
  }

  private limitOf(lane: Lane): number {
    if (this.options.maxConcurrent === 0) return Infinity;
    return lane.heavyUntil > performance.now() ? 1 : this.options.maxConcurrent;
  }

  private leave(tenantId: string, lane: Lane): void {
    lane.running--;
    // The turn passes to the tenant's next waiting reads, as many as its limit now allows.
    while (lane.waiting.length > 0 && lane.running < this.limitOf(lane)) {
      lane.running++;
      lane.waiting.shift()!();
    }
    if (lane.running === 0 && lane.heavyUntil <= performance.now()) this.lanes.delete(tenantId);
  }
}

function once(f: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    f();
  };
}

/** The turn each request holds: how to end it, and how to mark its tenant's reads heavy. */
const turns = new WeakMap<FastifyRequest, { leave: () => void; markHeavy: () => void }>();

/** Ends the request's read turn early: a watch stream that has opened reads through the hub, not as this request. */
export function leaveReadShare(request: FastifyRequest): void {
  turns.get(request)?.leave();
}

/** The request's answer is large (it is being streamed): its tenant's next reads go one at a time for a while. */
export function markHeavyRead(request: FastifyRequest): void {
  turns.get(request)?.markHeavy();
}

const READS = new Set(['GET', 'HEAD']);

/**
 * Every GET and HEAD of a caller (not the public probes and files) takes a turn of its tenant's read
 * share, after authentication (so the tenant is known) and before the handler; the turn ends when
 * the answer has been written out or the client went away, or when a watch stream opens.
 */
export function registerReadShare(fastify: FastifyInstance, share: TenantReadShare): void {
  fastify.addHook('onRequest', async (request, reply) => {
    if (!READS.has(request.method) || reply.sent || PUBLIC.test(request.url)) return;
    const tenantId = ((request as { identity?: CallerIdentity }).identity ?? LOCAL_IDENTITY).tenantId;
    const turn = share.enter(tenantId);
    if (turn === 'full') {
      const { body } = toErrorAnswer(new ApiError(429, 'rate_limited', 'too many reads of this tenant are waiting; retry later'), request);
      return reply.code(429).header('retry-after', '1').send(body);
    }
    const leave = await turn;
    // A client that left while it waited: nothing will close it again.
    if (reply.raw.closed || request.raw.destroyed) return leave();
    turns.set(request, { leave, markHeavy: () => share.markHeavy(tenantId) });
    // 'close' comes once the answer is written out (or the client went away): a large answer is
    // streamed in slices, and writing them is part of the read's cost.
    reply.raw.once('close', leave);
  });
}
