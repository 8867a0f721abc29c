import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { PostgresServerCpu } from './postgres-server.js';
import { machineBusySeconds, type ProcessMemory } from './proc-stats.js';
import { RUN_METRICS, type Figures, type MetricDefinition, type RunContext, type RunResult, type Scenario, type ScenarioGroup } from './scenario.js';
import { median, sum } from './stats.js';

/** A first, discarded pass per scenario: JIT, connection pools and PostgreSQL caches warm up. */
const WARMUP_MS = 1_000;
const LOOP_DELAY_RESOLUTION_MS = 1;

/** What the runner reads of a target's process: a started broker, the Emmett service, or a --baseline-pid. */
export interface MeasuredProcess {
  memory(): Promise<ProcessMemory>;
  cpuSeconds(): Promise<number>;
}

export interface Target {
  /** `broker` (under test), `baseline` (--baseline-url) or `emmett` (the Emmett reference service). */
  name: string;
  url: string;
  /** Speaks only the upstream wire API (the baseline): scenarios needing /v2 are skipped on it. */
  upstreamOnly: boolean;
  /** Set when the harness started this broker (or was given its pid): then its CPU and memory are measured too. */
  process?: MeasuredProcess;
  /** Set when the broker's PostgreSQL server runs on this machine: then its CPU is measured too. */
  postgres?: PostgresServerCpu;
  /** The broker's own database, when the harness created it: scenarios may check what was stored. */
  databaseUrl?: string;
}

export interface ScenarioOutcome {
  target: string;
  group: string;
  scenario: string;
  runs: RunResult[];
  /** Per metric: the median (or, for counters, the total) of the runs. */
  aggregate: Figures;
  /** The scenario could not run (e.g. the baseline lacks the route). */
  error?: string;
  /** Not run on this target, and why (e.g. it needs /v2 routes, which a baseline does not serve). */
  skipped?: string;
}

export interface RunPlan {
  durationMs: number;
  runs: number;
}

/** Unique per harness invocation, so repeated benchmarks of one long-running broker never share sessions. */
const INVOCATION_TAG = `bench-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/**
 * Runs one scenario on each target, their measured runs interleaved and alternating who goes first
 * (A B, B A, A B, …): the load other processes put on the machine drifts, and whichever target ran
 * first in a pass measured 10–15 % better, so neither gets a fixed position.
 */
export async function runScenarioSideBySide(group: ScenarioGroup, scenario: Scenario, targets: readonly Target[], plan: RunPlan): Promise<ScenarioOutcome[]> {
  interface TargetState {
    target: Target;
    prefix: string;
    base: Omit<RunContext, 'durationMs' | 'sessionPrefix'>;
    outcome: ScenarioOutcome;
  }
  const states = targets.map((target): TargetState => ({
    target,
    prefix: `${INVOCATION_TAG}-${target.name}-${scenario.name}`,
    base: { baseUrl: target.url, upstreamOnly: target.upstreamOnly, ...(target.databaseUrl === undefined ? {} : { databaseUrl: target.databaseUrl }) },
    outcome: { target: target.name, group: group.title, scenario: scenario.name, runs: [], aggregate: {} },
  }));
  const failed = (state: TargetState, error: unknown) => {
    state.outcome.error = (error as Error).message;
    progress(`${state.target.name} ${scenario.name} failed: ${state.outcome.error}`);
  };
  for (const state of states) {
    const skipped = skipReason(scenario, state.target);
    if (skipped !== undefined) {
      progress(`${state.target.name} ${scenario.name} skipped: ${skipped}`);
      state.outcome.skipped = skipped;
      continue;
    }
    try {
      await scenario.prepare?.(state.base);
      await scenario.run({ ...state.base, durationMs: WARMUP_MS, sessionPrefix: `${state.prefix}-warmup` });
    } catch (error) {
      failed(state, error);
    }
  }
  for (let run = 1; run <= plan.runs; run++) {
    const order = run % 2 === 1 ? states : [...states].reverse();
    for (const state of order.filter((s) => s.outcome.skipped === undefined && s.outcome.error === undefined)) {
      try {
        const result = await measureRun(scenario, state.target, { ...state.base, durationMs: plan.durationMs, sessionPrefix: `${state.prefix}-r${run}` });
        state.outcome.runs.push(result);
        progress(`${state.target.name} ${scenario.name} run ${run}/${plan.runs}: ${describeFigures(group.metrics, result.figures)}`);
      } catch (error) {
        failed(state, error);
      }
    }
  }
  for (const state of states) state.outcome.aggregate = aggregateRuns([...group.metrics, ...RUN_METRICS], state.outcome.runs);
  return states.map((s) => s.outcome);
}

function skipReason(scenario: Scenario, target: Target): string | undefined {
  const requires = scenario.requires ?? [];
  if (requires.includes('v2') && target.upstreamOnly) return 'it uses /v2 routes, which upstream ark-broker does not serve';
  if (requires.includes('database') && target.databaseUrl === undefined)
    return 'it needs the database of a broker the harness started (not with --url or a baseline)';
  return undefined;
}

/** Runs once, adding what the runner measures around it: CPU of broker, PostgreSQL, harness and machine, broker memory, harness event-loop delay. */
async function measureRun(scenario: Scenario, target: Target, context: RunContext): Promise<RunResult> {
  // The harness shares the CPUs with the broker: a lagging harness loop inflates latencies, so it is reported.
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  const cpuBefore = await target.process?.cpuSeconds();
  const postgresCpuBefore = await target.postgres?.cpuSeconds();
  const machineBusyBefore = await machineBusySeconds();
  const harnessCpuBefore = process.cpuUsage();
  const started = performance.now();
  const result = await scenario.run(context);
  const wallSeconds = (performance.now() - started) / 1000;
  const harnessCpu = process.cpuUsage(harnessCpuBefore);
  const machineBusy = (await machineBusySeconds()) - machineBusyBefore;
  loopDelay.disable();
  // The histogram records whole sampling intervals: the lag is what exceeds the resolution.
  const figures: Figures = {
    ...result.figures,
    harnessCpuPercent: ((harnessCpu.user + harnessCpu.system) / 1e6 / wallSeconds) * 100,
    machineCpuPercent: (machineBusy / wallSeconds) * 100,
    harnessLoopDelayP99Ms: Math.max(loopDelay.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS, 0),
  };
  if (target.process && cpuBefore !== undefined) {
    figures.brokerCpuPercent = (((await target.process.cpuSeconds()) - cpuBefore) / wallSeconds) * 100;
    figures.brokerRssMiB = (await target.process.memory()).rssMiB;
  }
  if (target.postgres && postgresCpuBefore !== undefined) {
    figures.postgresCpuPercent = (((await target.postgres.cpuSeconds()) - postgresCpuBefore) / wallSeconds) * 100;
  }
  if (figures.brokerCpuPercent !== undefined && figures.postgresCpuPercent !== undefined) {
    // What the machine spent on anything else (other engineers' builds and tests): competition for the cores.
    figures.otherCpuPercent = Math.max(figures.machineCpuPercent! - figures.brokerCpuPercent - figures.postgresCpuPercent - figures.harnessCpuPercent!, 0);
  }
  if (!result.afterwards) return { figures, notes: result.notes };
  // Outside the measurement window: its CPU time is not charged to the run.
  const extra = await result.afterwards();
  return { figures: { ...figures, ...extra.figures }, notes: [...result.notes, ...extra.notes] };
}

export function aggregateRuns(metrics: readonly MetricDefinition[], runs: readonly RunResult[]): Figures {
  const aggregate: Figures = {};
  for (const metric of metrics) {
    const values = runs.map((r) => r.figures[metric.key]).filter((v): v is number => v !== undefined);
    if (values.length > 0) aggregate[metric.key] = metric.aggregate === 'total' ? sum(values) : median(values);
  }
  return aggregate;
}

export function formatFigure(metric: MetricDefinition, value: number | undefined): string {
  if (value === undefined) return '–';
  if (Number.isNaN(value)) return 'n/a';
  return value.toLocaleString('en-US', { minimumFractionDigits: metric.decimals, maximumFractionDigits: metric.decimals });
}

function describeFigures(metrics: readonly MetricDefinition[], figures: Figures): string {
  return [...metrics, ...RUN_METRICS]
    .filter((m) => figures[m.key] !== undefined)
    .map((m) => `${m.label} ${formatFigure(m, figures[m.key])}`)
    .join(', ');
}

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}
