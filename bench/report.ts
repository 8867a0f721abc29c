import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BrokerExit } from './broker-process.js';
import type { Environment } from './environment.js';
import type { BenchOptions } from './options.js';
import type { ProcessMemory } from './proc-stats.js';
import { formatFigure, type ScenarioOutcome } from './runner.js';
import { RUN_METRICS, type MetricDefinition, type ScenarioGroup } from './scenario.js';

/** The source folder bench/, not dist/bench/: results are kept next to the harness. */
const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));
const BROKER_LOG_LINES_SHOWN = 20;

/** What is known about the broker the harness started (absent with --url). */
export interface StartedBroker {
  database: string;
  memory: ProcessMemory;
  exit: BrokerExit;
  logLineCount: number;
  logTail: string[];
}

export interface BenchReport {
  environment: Environment;
  options: BenchOptions;
  startedBroker: StartedBroker | undefined;
  groups: readonly ScenarioGroup[];
  outcomes: readonly ScenarioOutcome[];
}

/** Medians only, for the terminal. */
export function renderSummary(report: BenchReport): string {
  return report.groups.map((group) => `### ${group.title}\n\n${renderTable(report, group, false)}`).join('\n\n');
}

export async function writeReports(report: BenchReport): Promise<{ markdown: string; json: string }> {
  const markdown = `${BENCH_DIR}RESULTS.md`;
  const json = `${BENCH_DIR}results/${report.environment.date.replace(/[:.]/g, '-')}.json`;
  await mkdir(`${BENCH_DIR}results`, { recursive: true });
  await writeFile(markdown, renderResultsMarkdown(report));
  await writeFile(json, `${JSON.stringify(report, (_key, value: unknown) => (typeof value === 'function' ? undefined : value), 2)}\n`);
  return { markdown, json };
}

function renderResultsMarkdown(report: BenchReport): string {
  const { environment: env, options, startedBroker } = report;
  const lines = [
    '# Ark Broker benchmark results',
    '',
    '_Written by `npm run bench` (bench/run.ts); overwritten on every run._',
    '',
    `- Date: ${env.date}`,
    `- Commit: ${env.commit}`,
    `- Machine: ${env.cpus}, ${env.memoryGiB.toFixed(1)} GiB RAM, ${env.kernel}; load average at start ${env.loadAverage.map((l) => l.toFixed(2)).join(' / ')}`,
    `- Node: ${env.node}`,
    `- PostgreSQL: ${env.postgres}`,
    `- Command: \`${env.command}\``,
    `- Broker under test: ${
      startedBroker
        ? `started by the harness (\`node dist/apps/broker/src/main.js\`, default settings, LOG_LEVEL=warn) on the fresh database ${startedBroker.database}, dropped afterwards`
        : options.url
    }`,
    ...(options.baselineUrl ? [`- Baseline: ${options.baselineUrl}`] : []),
    `- Method: per scenario a 1 s warm-up (discarded), then ${options.runs} run(s) of ${options.durationSeconds} s. Each figure is the median ` +
      'of the runs, except the error counters, which are totals over the runs. Per-run values follow in parentheses. The harness, ' +
      'the broker and PostgreSQL share the machine. CPU %: 100 is one core busy; PostgreSQL CPU % counts the whole server (all its ' +
      'processes, every database on it), machine CPU % every process on all cores, other processes CPU % the machine\'s less ' +
      'broker, PostgreSQL and harness (anything else competing for the cores).',
    '',
  ];
  for (const group of report.groups) {
    lines.push(`## ${group.title}`, '', group.description, '', renderTable(report, group, true), '');
    const notes = report.outcomes
      .filter((o) => o.group === group.title)
      .flatMap((o) => [
        ...o.runs.flatMap((run, i) => run.notes.map((n) => `- ${o.target} ${o.scenario} run ${i + 1}: ${n}`)),
        ...(o.error === undefined ? [] : [`- ${o.target} ${o.scenario}: failed: ${o.error}`]),
      ]);
    if (notes.length > 0) lines.push('Notes:', '', ...notes, '');
  }
  if (startedBroker) {
    lines.push(
      '## Broker process',
      '',
      `- RSS at the end: ${startedBroker.memory.rssMiB.toFixed(0)} MiB (peak ${startedBroker.memory.peakRssMiB.toFixed(0)} MiB)`,
      `- Exit after SIGTERM: code ${startedBroker.exit.code}, signal ${startedBroker.exit.signal}${startedBroker.exit.code === 0 ? '' : ' (a graceful shutdown exits 0)'}`,
      `- Log lines at LOG_LEVEL=warn: ${startedBroker.logLineCount}`,
      '',
    );
    if (startedBroker.logTail.length > 0) lines.push('```', ...startedBroker.logTail.slice(-BROKER_LOG_LINES_SHOWN), '```', '');
  }
  return lines.join('\n');
}

function renderTable(report: BenchReport, group: ScenarioGroup, withRuns: boolean): string {
  const metrics: MetricDefinition[] = [...group.metrics, ...RUN_METRICS];
  const showTarget = report.options.baselineUrl !== undefined;
  const header = ['scenario', ...(showTarget ? ['target'] : []), ...metrics.map((m) => m.label)];
  const rows = report.outcomes
    .filter((o) => o.group === group.title)
    .map((o) => {
      const lead = [o.scenario, ...(showTarget ? [o.target] : [])];
      if (o.error !== undefined && o.runs.length === 0) return [...lead, `failed: ${o.error.replace(/\|/g, '\\|').replace(/\n/g, ' ')}`];
      return [
        ...lead,
        ...metrics.map((m) => {
          const aggregate = formatFigure(m, o.aggregate[m.key]);
          if (!withRuns || o.aggregate[m.key] === undefined) return aggregate;
          return `${aggregate} (${o.runs.map((r) => formatFigure(m, r.figures[m.key])).join(' / ')})`;
        }),
      ];
    });
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
