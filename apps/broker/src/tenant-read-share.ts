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

/** One tenant's reads: how many are in progress, and those waiting, in arrival order. */
interface Lane {
  running: number;
  waiting: (() => void)[];
}

/**
 * Each tenant's share of the read path on this replica. A read is an API GET answered in one
 * response: it takes a PostgreSQL connection, and for large events tens of milliseconds of this
 * process's one event loop. Unbounded, sixteen readers of one tenant's 10 MB events held the loop
 * for up to a second at a time, and every other tenant's requests (each transaction a few round
 * trips through that loop) waited seconds. Past `maxConcurrent` a tenant's reads wait in its own
 * queue, so another tenant's read never waits behind them; past `maxQueued` they get 429 +
 * Retry-After. Watch streams take a turn only until they open (their reads are the watch hub's).
 * Hand-written for the same reason as TenantWriteShare: a few lines, and the generic limiters queue
 * across all callers or need a store.
 */
export class TenantReadShare {
  private readonly lanes = new Map<string, Lane>();

  constructor(private readonly options: TenantReadShareOptions) {}

  /** Resolves with the function that ends this read's turn; 'full' when the tenant's queue is full. */
  enter(tenantId: string): Promise<() => void> | 'full' {
    const lane = this.lanes.get(tenantId) ?? { running: 0, waiting: [] };
    this.lanes.set(tenantId, lane);
    const leave = once(() => this.leave(tenantId, lane));
    if (this.options.maxConcurrent === 0 || lane.running < this.options.maxConcurrent) {
      lane.running++;
      return Promise.resolve(leave);
    }
    if (lane.waiting.length >= this.options.maxQueued) return 'full';
    return new Promise((resolve) => lane.waiting.push(() => resolve(leave)));
  }

  /** Reads of this tenant in progress and waiting (for tests and metrics). */
  load(tenantId: string): { running: number; waiting: number } {
    const lane = this.lanes.get(tenantId);
    return { running: lane?.running ?? 0, waiting: lane?.waiting.length ?? 0 };
  }

  private leave(tenantId: string, lane: Lane): void {
    const next = lane.waiting.shift();
    // The turn passes straight to the next waiting read of the same tenant.
    if (next) return next();
    lane.running--;
    if (lane.running === 0) this.lanes.delete(tenantId);
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

/** The end of each request's turn, while it holds one. */
const turns = new WeakMap<FastifyRequest, () => void>();

/** Ends the request's read turn early: a watch stream that has opened reads through the hub, not as this request. */
export function leaveReadShare(request: FastifyRequest): void {
  turns.get(request)?.();
}

const READS = new Set(['GET', 'HEAD']);

/**
 * Every GET and HEAD of a caller (not the public probes and files) takes a turn of its tenant's read share, after authentication (so
 * the tenant is known) and before the handler; the turn ends when the answer is handed to the socket,
 * when the client goes away, or when a watch stream opens.
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
    turns.set(request, leave);
    reply.raw.once('close', leave);
  });
  fastify.addHook('onSend', (request, _reply, payload, done) => {
    leaveReadShare(request);
    done(null, payload);
  });
}
