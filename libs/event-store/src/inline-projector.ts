import type { Transaction } from 'kysely';
import type { Database } from '#ark/database';
import type { ArkEvent } from './ark-event.js';

/**
 * A read model kept in step with the log inside the append transaction. `project` must be correct
 * for any batch of newly appended events (any sessions, any order within the batch) and must give the
 * same tables when the whole log is replayed through it after `reset`.
 */
export interface InlineProjector {
  readonly name: string;
  project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void>;
  /** Empties the read model before a rebuild. */
  reset(trx: Transaction<Database>): Promise<void>;
}

/** Nest token under which the projections library provides the inline projectors. */
export const INLINE_PROJECTORS = Symbol('INLINE_PROJECTORS');
