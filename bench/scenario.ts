/** How one figure is named, rounded and combined across runs. */
export interface MetricDefinition {
  key: string;
  label: string;
  /** Rates and latencies: the median of the runs. Correctness counters: the total, so one bad run shows. */
  aggregate: 'median' | 'total';
  decimals: number;
}

export type Figures = Record<string, number>;

export interface RunResult {
  figures: Figures;
  /** Anything odd seen during the run (error answers, gaps), as evidence for the report. */
  notes: string[];
  /**
   * Work to do once the run's measurement window is closed, so that the runner's CPU and memory
   * figures exclude it: checking what was stored, timing a comparison. Its figures and notes are
   * merged into the run's. Not called for the warm-up.
   */
  afterwards?: () => Promise<{ figures: Figures; notes: string[] }>;
}

export interface RunContext {
  baseUrl: string;
  /** The target speaks only the upstream wire API (a --baseline-url): scenarios leave out their /v2 parts. */
  upstreamOnly: boolean;
  durationMs: number;
  /** Unique per run: session ids start with it, so no two runs (or benchmarks on one broker) share a session. */
  sessionPrefix: string;
  /** The database of the broker under test, when the harness created it (not with --url): for checking what was stored. */
  databaseUrl?: string;
}

/**
 * What a scenario needs of its target beyond the upstream wire API. `v2`: routes only this broker
 * serves (skipped on a --baseline-url, which is taken to be upstream ark-broker). `database`: the
 * database of a broker the harness started (skipped with --url and on a baseline).
 */
export type Requirement = 'v2' | 'database';

export interface Scenario {
  name: string;
  requires?: readonly Requirement[];
  /** The broker scenario this one is compared with (e.g. Emmett's append beside the broker's): selected with it, and reported as a ratio. */
  counterpart?: string;
  /** Runs once before the warm-up, outside every measurement (e.g. seeding the log). */
  prepare?(context: Omit<RunContext, 'durationMs' | 'sessionPrefix'>): Promise<void>;
  run(context: RunContext): Promise<RunResult>;
}

/** Scenarios reported in one table: they share their metrics. */
export interface ScenarioGroup {
  title: string;
  description: string;
  metrics: readonly MetricDefinition[];
  /** The figures compared side by side with a baseline (or a counterpart), e.g. throughput and p99. */
  headline: readonly string[];
  scenarios: readonly Scenario[];
  /** `emmett`: run on the Emmett reference service instead of the broker and the baseline. */
  runsOn?: 'emmett';
  /**
   * Scenarios made of parts (the Ark day): `metrics` holds `<part>_<metric>` for each pair, and the
   * report shows one row per part with these metrics as columns.
   */
  parts?: { rows: readonly { key: string; label: string }[]; metrics: readonly MetricDefinition[] };
}

/** Measured by the runner around every run, whatever the scenario. CPU %: 100 is one core busy. */
export const RUN_METRICS: readonly MetricDefinition[] = [
  { key: 'brokerCpuPercent', label: 'broker CPU %', aggregate: 'median', decimals: 0 },
  { key: 'postgresCpuPercent', label: 'PostgreSQL CPU %', aggregate: 'median', decimals: 0 },
  { key: 'brokerRssMiB', label: 'broker RSS MiB', aggregate: 'median', decimals: 0 },
  { key: 'harnessCpuPercent', label: 'harness CPU %', aggregate: 'median', decimals: 0 },
  { key: 'machineCpuPercent', label: 'machine CPU %', aggregate: 'median', decimals: 0 },
  { key: 'otherCpuPercent', label: 'other processes CPU %', aggregate: 'median', decimals: 0 },
  { key: 'harnessLoopDelayP99Ms', label: 'harness loop delay p99 ms', aggregate: 'median', decimals: 1 },
];

const MAX_NOTES_PER_RUN = 10;

/** Collects a run's notes, keeping only the first few so a broken run cannot flood the report. */
export class RunNotes {
  private readonly entries: string[] = [];
  private dropped = 0;

  add(text: string): void {
    if (this.entries.length < MAX_NOTES_PER_RUN) this.entries.push(text);
    else this.dropped++;
  }

  list(): string[] {
    return this.dropped === 0 ? this.entries : [...this.entries, `… and ${this.dropped} more`];
  }
}
