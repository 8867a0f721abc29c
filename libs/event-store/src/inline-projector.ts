import type { Transaction } from 'kysely';
import type { Database } from '#ark/database';
import type { ArkEvent } from './ark-event.js';

/**
 * A read model kept in step with the log inside the append transaction. `project` must be correct
 * for any batch of newly appended events (any sessions, any order within the batch) and must give the
 * same tables when the whole log is replayed through it into empty copies of its tables.
 */
export interface InlineProjector {
  readonly name: string;
  project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void>;
  /** The tables it writes, in the order it first writes them (a rebuild builds copies and swaps them in). */
  readonly tables: readonly string[];
}

/** Nest token under which the projections library provides the inline projectors. */
export const INLINE_PROJECTORS = Symbol('INLINE_PROJECTORS');
