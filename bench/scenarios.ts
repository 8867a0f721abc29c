import { APPEND_METRICS, appendScenario } from './append-scenario.js';
import type { Scenario, ScenarioGroup } from './scenario.js';
import { WATCH_METRICS, watchScenario } from './watch-scenario.js';

const WATCHERS = 100;
const PRODUCER_EVENTS_PER_SECOND = 200;

export const SCENARIO_GROUPS: readonly ScenarioGroup[] = [
  {
    title: 'Append throughput',
    description:
      '`POST /v2/events`, closed loop: each of C workers has its own session (so C sessions, C keep-alive connections) and POSTs ' +
      'its batch of B events (~150 bytes of JSON each) as soon as its previous request is answered. Latency: request sent → 201 ' +
      'read, i.e. durably committed. Every answer is checked: 201, B items, sequences continuing the session without a hole.',
    metrics: APPEND_METRICS,
    scenarios: [appendScenario(1, 1), appendScenario(1, 32), appendScenario(100, 1), appendScenario(100, 32)],
  },
  {
    title: 'Watch delivery latency',
    description:
      `${WATCHERS} SSE watchers (\`GET /v2/sessions/:id/events?watch=true\`, from sequence 1) and an open-loop producer sending ` +
      `${PRODUCER_EVENTS_PER_SECOND} single-event appends/s for the run, round-robin over the watched sessions: ` +
      '`one-session`: all watchers on one session (each receives every event); `own-sessions`: each watcher on its own session ' +
      `(each receives ${PRODUCER_EVENTS_PER_SECOND / WATCHERS}/s). Latency: the producer's send time, carried in the event's data, ` +
      "to the watcher's receive time, one process and clock: producer→reader, an upper bound on commit→client; `append p50/p99` is " +
      "the producer's send → 201, the part of it spent before the commit was confirmed. After the last " +
      'append is answered the watchers get up to 10 s to catch up; each checks by sequence that it got every event once, in order.',
    metrics: WATCH_METRICS,
    scenarios: [watchScenario('shared', WATCHERS, PRODUCER_EVENTS_PER_SECOND), watchScenario('own', WATCHERS, PRODUCER_EVENTS_PER_SECOND)],
  },
];

/** The groups, keeping only the named scenarios; throws on a name that does not exist. */
export function selectScenarios(only: readonly string[] | undefined): ScenarioGroup[] {
  if (!only) return [...SCENARIO_GROUPS];
  const known = SCENARIO_GROUPS.flatMap((g) => g.scenarios.map((s) => s.name));
  const unknown = only.filter((name) => !known.includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${known.join(', ')}`);
  return SCENARIO_GROUPS.map((g) => ({ ...g, scenarios: g.scenarios.filter((s: Scenario) => only.includes(s.name)) })).filter(
    (g) => g.scenarios.length > 0,
  );
}
