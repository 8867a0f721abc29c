import type { Transaction } from 'kysely';
import type { Database } from '#ark/database';
import type { StreamEvent } from './ark-event.js';

/**
 * Decides, inside the append transaction and before the events are written, which report of a work
 * step is its first: Ark reports a query, an LLM call and a tool call from two sources (its spans and
 * its operation events), and the log keeps one start and one end of each. The first report of a step
 * is stored under the step's key (as its dedupe key); a retry of it changes nothing; a report from
 * another source or span becomes `<family>.updated` (`data.phase` names the step) under its own
 * dedupe key. Returns the events to write, one per item, in the same order.
 */
export interface WorkStepResolver {
  resolve(trx: Transaction<Database>, items: readonly StreamEvent[]): Promise<StreamEvent[]>;
}

/** Nest token under which the projections library provides the resolver (it needs the query identity). */
export const WORK_STEP_RESOLVER = Symbol('WORK_STEP_RESOLVER');
