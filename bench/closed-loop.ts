import { setTimeout as sleep } from 'node:timers/promises';
import { RouteMissingError } from './broker-client.js';
import { RunNotes } from './scenario.js';

/** Pause after a failed request, so a broker that refuses everything is not hammered in a tight loop. */
const FAILURE_PAUSE_MS = 50;

/**
 * What one request came to: `ok` with the units it carried (spans, events); `refused`, a non-2xx
 * answer; `invalid`, a 2xx answer whose body is not the one expected.
 */
export type Attempt = { kind: 'ok'; units: number } | { kind: 'refused'; note: string } | { kind: 'invalid'; note: string };

export interface ClosedLoopResult {
  /** From the start until the last in-flight request was answered: every counted unit fell inside it. */
  elapsedSeconds: number;
  /** Send → answer read, of the `ok` requests. */
  latenciesMs: number[];
  units: number;
  refused: number;
  invalid: number;
  transportErrors: number;
  notes: RunNotes;
}

/**
 * Closed loop: `concurrency` workers, each sending its next request (`send(worker, iteration)`) as
 * soon as its previous one is answered, until `durationMs` is up. A RouteMissingError stops every
 * worker and is rethrown: the target lacks the route, the scenario fails with that reason.
 */
export async function runClosedLoop(
  concurrency: number,
  durationMs: number,
  send: (worker: number, iteration: number) => Promise<Attempt>,
): Promise<ClosedLoopResult> {
  const result: ClosedLoopResult = { elapsedSeconds: 0, latenciesMs: [], units: 0, refused: 0, invalid: 0, transportErrors: 0, notes: new RunNotes() };
  let routeMissing: RouteMissingError | undefined;
  const started = performance.now();
  const deadline = started + durationMs;
  const worker = async (index: number) => {
    for (let iteration = 0; performance.now() < deadline && !routeMissing; iteration++) {
      const began = performance.now();
      try {
        const attempt = await send(index, iteration);
        if (attempt.kind === 'ok') {
          result.latenciesMs.push(performance.now() - began);
          result.units += attempt.units;
          continue;
        }
        result.notes.add(attempt.note);
        if (attempt.kind === 'invalid') {
          result.invalid++;
          continue;
        }
        result.refused++;
      } catch (error) {
        if (error instanceof RouteMissingError) {
          routeMissing = error;
          return;
        }
        result.transportErrors++;
        result.notes.add(`request failed: ${(error as Error).message}`);
      }
      await sleep(Math.min(FAILURE_PAUSE_MS, Math.max(deadline - performance.now(), 0)));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
  if (routeMissing) throw routeMissing;
  result.elapsedSeconds = (performance.now() - started) / 1000;
  return result;
}

/** Shortened, one-line text of an answer body, for notes. */
export function excerpt(body: Buffer | string, length = 200): string {
  return body.toString().replace(/\s+/g, ' ').slice(0, length);
}
