import { Injectable } from '@nestjs/common';

/** How often a claiming executor's `last_seen_at` is written: far inside GET /v2/executors' 60 s liveness window. */
const RECORD_EVERY_MS = 10_000;
/** Past this many remembered executors the memory starts over (each is then recorded once more). */
const MAX_REMEMBERED = 10_000;

/**
 * When this replica last recorded each executor as seen (`query_executors`), so that a claim
 * writes the row only every RECORD_EVERY_MS or when the executor's namespaces change, not on each
 * of the hundreds of claims a second a busy executor makes.
 */
@Injectable()
export class ExecutorSightings {
  private readonly recorded = new Map<string, { namespaces: string; at: number }>();

  /** Whether this claim should record the executor; if so, it counts as recorded from now on. */
  due(tenantId: string, executorId: string, namespaces: readonly string[] | null): boolean {
    const key = `${tenantId}\u0000${executorId}`;
    const served = namespaces === null ? '*' : namespaces.join('\u0000');
    const now = Date.now();
    const last = this.recorded.get(key);
    if (last && last.namespaces === served && now - last.at < RECORD_EVERY_MS) return false;
    if (this.recorded.size >= MAX_REMEMBERED) this.recorded.clear();
    this.recorded.set(key, { namespaces: served, at: now });
    return true;
  }
}
