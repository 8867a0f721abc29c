import { BrokerClient } from './broker-client.js';
import { excerpt, runClosedLoop, type Attempt } from './closed-loop.js';
import { countStoredEvents } from './copy-ceiling.js';
import type { MetricDefinition, RunContext, RunResult, Scenario } from './scenario.js';
import { summarizeLatencies } from './stats.js';

export const OPERATION_EVENT_METRICS: readonly MetricDefinition[] = [
  { key: 'requestsPerSecond', label: 'requests/s', aggregate: 'median', decimals: 0 },
  { key: 'latencyP50Ms', label: 'p50 ms', aggregate: 'median', decimals: 2 },
  { key: 'latencyP95Ms', label: 'p95 ms', aggregate: 'median', decimals: 2 },
  { key: 'latencyP99Ms', label: 'p99 ms', aggregate: 'median', decimals: 2 },
  { key: 'non201', label: 'non-201', aggregate: 'total', decimals: 0 },
  { key: 'badAnswers', label: 'bad answers', aggregate: 'total', decimals: 0 },
  { key: 'transportErrors', label: 'transport errors', aggregate: 'total', decimals: 0 },
  { key: 'storedMismatch', label: 'stored ≠ accepted', aggregate: 'total', decimals: 0 },
];

const SUCCESS = '{"status":"success"}';

/** What the Ark controller reports for one query, in order: query → agent → (llm, tool) × 2 → agent → query. */
const QUERY_LIFECYCLE = [
  'QueryExecutionStart',
  'AgentExecutionStart',
  'LLMCallStart',
  'LLMCallComplete',
  'ToolCallStart',
  'ToolCallComplete',
  'LLMCallStart',
  'LLMCallComplete',
  'ToolCallStart',
  'ToolCallComplete',
  'AgentExecutionComplete',
  'QueryExecutionComplete',
] as const;
const QUERY_NAMES = ['weather-query', 'research-report', 'code-review', 'support-ticket'];

/**
 * Closed loop: `concurrency` workers POST Ark controller operation events to `/events`, each
 * worker one session whose queries follow QUERY_LIFECYCLE. Every body is distinct (its own
 * timestamp, query and step). Expects `201 {"status":"success"}`; afterwards (outside the CPU
 * window) counts the events stored in the run's sessions.
 */
export function operationEventsScenario(concurrency: number): Scenario {
  return {
    name: `operation-events-c${concurrency}`,
    run: (context) => runOperationEvents(context, concurrency),
  };
}

async function runOperationEvents(context: RunContext, concurrency: number): Promise<RunResult> {
  const sessionOf = (worker: number) => `${context.sessionPrefix}-w${worker}`;
  const client = new BrokerClient(context.baseUrl, concurrency);
  let loop;
  try {
    loop = await runClosedLoop(concurrency, context.durationMs, async (worker, iteration): Promise<Attempt> => {
      const answer = await client.post('/events', operationEventBody(sessionOf(worker), worker, iteration), 'application/json');
      if (answer.status !== 201) return { kind: 'refused', note: `HTTP ${answer.status}: ${excerpt(answer.body)}` };
      const text = answer.body.toString();
      if (text !== SUCCESS) return { kind: 'invalid', note: `201 with body ${excerpt(text)}` };
      return { kind: 'ok', units: 1 };
    });
  } finally {
    await client.close();
  }
  const latency = summarizeLatencies(loop.latenciesMs);
  const accepted = loop.units;
  const { databaseUrl } = context;
  return {
    figures: {
      requestsPerSecond: accepted / loop.elapsedSeconds,
      latencyP50Ms: latency.p50,
      latencyP95Ms: latency.p95,
      latencyP99Ms: latency.p99,
      non201: loop.refused,
      badAnswers: loop.invalid,
      transportErrors: loop.transportErrors,
    },
    notes: loop.notes.list(),
    ...(databaseUrl === undefined
      ? {}
      : {
          afterwards: async () => {
            const stored = await countStoredEvents(
              databaseUrl,
              Array.from({ length: concurrency }, (_, w) => sessionOf(w)),
            );
            return {
              figures: { storedMismatch: Math.abs(stored - accepted) },
              notes: stored === accepted ? [] : [`${accepted} events answered 201 but ${stored} stored in the run's sessions`],
            };
          },
        }),
  };
}

/**
 * The `EventData` body the Ark controller POSTs (docs/upstream-compat.md §3.1): step `iteration`
 * of worker `worker`'s queries in `sessionId`. `extraData` is merged into its `data` (the Ark day
 * scenario stamps the send time there; the broker keeps the whole body in the event).
 */
export function operationEventBody(sessionId: string, worker: number, iteration: number, extraData: Record<string, unknown> = {}): string {
  const step = iteration % QUERY_LIFECYCLE.length;
  const queryIndex = Math.floor(iteration / QUERY_LIFECYCLE.length);
  const reason = QUERY_LIFECYCLE[step]!;
  const queryName = QUERY_NAMES[(worker + queryIndex) % QUERY_NAMES.length]!;
  const queryId = `${sessionId}-q${queryIndex}`;
  const round = step < 6 ? 0 : 1;
  const data: Record<string, unknown> = {
    ...extraData,
    queryId,
    queryName,
    queryNamespace: 'default',
    sessionId,
    conversationId: `conv-${sessionId}`,
    operation: reason.replace(/(Start|Complete)$/, ''),
  };
  if (reason.endsWith('Complete')) data.durationMs = String(100 + ((iteration * 37) % 900));
  if (reason.startsWith('Agent')) data.agentName = 'weather-agent';
  if (reason.startsWith('LLMCall')) Object.assign(data, { modelName: 'gpt-4o', modelType: 'openai' });
  if (reason.startsWith('ToolCall')) {
    Object.assign(data, { toolName: 'get-weather', toolType: 'mcp', toolId: `call-${queryIndex}-${round}` });
    if (reason === 'ToolCallStart') data.parameters = JSON.stringify({ city: 'Paris', day: round });
    else data.result = `sunny, ${18 + round} °C`;
  }
  return JSON.stringify({
    timestamp: new Date().toISOString(),
    eventType: 'Normal',
    reason,
    message: `${reason} for query ${queryName} (step ${step + 1} of ${QUERY_LIFECYCLE.length})`,
    data,
  });
}
