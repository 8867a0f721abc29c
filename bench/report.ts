import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { BrokerExit } from './broker-process.js';
import type { Environment } from './environment.js';
import type { BenchOptions } from './options.js';
import type { ProcessMemory } from './proc-stats.js';
import { formatFigure, type ScenarioOutcome } from './runner.js';
import { RUN_METRICS, type MetricDefinition, type ScenarioGroup } from './scenario.js';
import type { StorageSize } from './storage-size.js';

/** The source folder bench/, not dist/bench/: results are kept next to the harness. */
const BENCH_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));
const BROKER_LOG_LINES_SHOWN = 20;
/** Bounds of the read-side section of RESULTS.md (bench/read-side.ts), which this report keeps. */
export const READ_SIDE_BEGIN = '<!-- read-side:begin -->';
export const READ_SIDE_END = '<!-- read-side:end -->';

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
  /** What the databases of the started broker (and the Emmett reference) held at the end. */
  storage: readonly StorageSize[];
}

/** Medians only, for the terminal. */
export function renderSummary(report: BenchReport): string {
  return [
    ...report.groups.map((group) =>
      [`### ${group.title}`, renderTable(report, group, false), renderSideBySide(report, group)].filter((p) => p !== '').join('\n\n'),
    ),
    ...(report.storage.length > 0 ? [`### Storage\n\n${renderStorage(report.storage)}`] : []),
  ].join('\n\n');
}

export async function writeReports(report: BenchReport): Promise<{ markdown: string; json: string }> {
  const markdown = `${BENCH_DIR}RESULTS.md`;
  const json = `${BENCH_DIR}results/${report.environment.date.replace(/[:.]/g, '-')}.json`;
  await mkdir(`${BENCH_DIR}results`, { recursive: true });
  await writeFile(markdown, renderResultsMarkdown(report) + (await readSideSection(markdown)));
  await writeFile(json, `${JSON.stringify(report, (_key, value: unknown) => (typeof value === 'function' ? undefined : value), 2)}\n`);
  return { markdown, json };
}

/** The read-side figures (`npm run bench -- read`) already in RESULTS.md: kept, not overwritten. */
async function readSideSection(file: string): Promise<string> {
  const current = await readFile(file, 'utf8').catch(() => '');
  const begin = current.indexOf(READ_SIDE_BEGIN);
  const end = current.indexOf(READ_SIDE_END);
  return begin !== -1 && end > begin ? `\n${current.slice(begin, end + READ_SIDE_END.length)}\n` : '';
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
        ? `started by the harness (\`node --max-semi-space-size=16 --heap-growing-percent=50 dist/apps/broker/src/main.js\` with MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=131072, as the image runs it; default broker settings, LOG_LEVEL=warn) on the fresh database ${startedBroker.database}, dropped afterwards`
        : options.url
    }`,
    ...(options.baselineUrl ? [`- Baseline: ${options.baselineUrl}`] : []),
    `- Method: per scenario a 1 s warm-up (discarded), then ${options.runs} run(s) of ${options.durationSeconds} s. Each figure is the median ` +
      'of the runs, except the error counters, which are totals over the runs. Per-run values follow in parentheses. The harness, ' +
      'the broker and PostgreSQL share the machine. CPU %: 100 is one core busy; PostgreSQL CPU % counts the whole server (all its ' +
      "processes, every database on it), machine CPU % every process on all cores, other processes CPU % the machine's less " +
      'broker, PostgreSQL and harness (anything else competing for the cores).',
    '',
  ];
  for (const group of report.groups) {
    lines.push(`## ${group.title}`, '', group.description, '', renderTable(report, group, true), '');
    const sideBySide = renderSideBySide(report, group);
    if (sideBySide !== '') lines.push(sideBySide, '');
    const notes = report.outcomes
      .filter((o) => o.group === group.title)
      .flatMap((o) => [
        ...o.runs.flatMap((run, i) => run.notes.map((n) => `- ${o.target} ${o.scenario} run ${i + 1}: ${n}`)),
        ...(o.error === undefined ? [] : [`- ${o.target} ${o.scenario}: failed: ${o.error}`]),
        ...(o.skipped === undefined ? [] : [`- ${o.target} ${o.scenario}: skipped: ${o.skipped}`]),
      ]);
    if (notes.length > 0) lines.push('Notes:', '', ...notes, '');
  }
  if (report.storage.length > 0) {
    lines.push(
      '## Storage',
      '',
      'What each database held at the end of the run (every scenario above wrote into it), from `pg_total_relation_size` ' +
        '(heap + indexes + TOAST; a partitioned table as the sum of its partitions) of each table of the public schema, ' +
        'not vacuumed. Event log: `events` + `event_streams` (Emmett: `emt_messages` + `emt_streams`); read models: every other ' +
        'table (sessions, session_queries, queries, tool_calls, llm_calls, spans, messages…, and the migrations bookkeeping). ' +
        'Per million events: divided by `count(*)` of the events table.',
      '',
      renderStorage(report.storage),
      '',
    );
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
  if (group.parts) return `${renderPartsTable(report, group, group.parts, withRuns)}\n\n${renderMetricsTable(report, group, RUN_METRICS, withRuns)}`;
  return renderMetricsTable(report, group, [...group.metrics, ...RUN_METRICS], withRuns);
}

/** One row per scenario (and target), one column per metric; per-run values in parentheses with `withRuns`. */
function renderMetricsTable(report: BenchReport, group: ScenarioGroup, metrics: readonly MetricDefinition[], withRuns: boolean): string {
  const showTarget = report.options.baselineUrl !== undefined || group.runsOn !== undefined;
  const header = ['scenario', ...(showTarget ? ['target'] : []), ...metrics.map((m) => m.label)];
  const rows = report.outcomes
    .filter((o) => o.group === group.title)
    .map((o) => {
      const lead = [o.scenario, ...(showTarget ? [o.target] : [])];
      if (o.skipped !== undefined) return [...lead, `skipped: ${cell(o.skipped)}`];
      if (o.error !== undefined && o.runs.length === 0) return [...lead, `failed: ${cell(o.error)}`];
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

/** One row per part of each scenario (and target), its metrics as columns. */
function renderPartsTable(report: BenchReport, group: ScenarioGroup, parts: NonNullable<ScenarioGroup['parts']>, withRuns: boolean): string {
  const showTarget = report.options.baselineUrl !== undefined;
  const header = ['scenario', ...(showTarget ? ['target'] : []), 'part', ...parts.metrics.map((m) => m.label)];
  const rows = report.outcomes
    .filter((o) => o.group === group.title)
    .flatMap((o) => {
      const lead = [o.scenario, ...(showTarget ? [o.target] : [])];
      if (o.skipped !== undefined) return [[...lead, `skipped: ${cell(o.skipped)}`]];
      if (o.error !== undefined && o.runs.length === 0) return [[...lead, `failed: ${cell(o.error)}`]];
      return parts.rows.map((part) => [
        ...lead,
        part.label,
        ...parts.metrics.map((m) => {
          const key = `${part.key}_${m.key}`;
          const aggregate = formatFigure(m, o.aggregate[key]);
          if (!withRuns || o.aggregate[key] === undefined || o.runs.length < 2) return aggregate;
          return `${aggregate} (${o.runs.map((r) => formatFigure(m, r.figures[key])).join(' / ')})`;
        }),
      ]);
    });
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * The group's headline figures beside those of the baseline (same scenario) and of counterparts
 * (an Emmett scenario beside the broker scenario it mirrors), with the ratio broker ÷ other. Empty
 * when there is nothing to compare.
 */
function renderSideBySide(report: BenchReport, group: ScenarioGroup): string {
  const metrics = group.metrics.filter((m) => group.headline.includes(m.key));
  const find = (target: string, scenario: string) => report.outcomes.find((o) => o.target === target && o.scenario === scenario && o.runs.length > 0);
  const pairs = group.scenarios.flatMap((scenario) => {
    if (scenario.counterpart !== undefined) {
      const other = report.outcomes.find((o) => o.group === group.title && o.scenario === scenario.name);
      return other ? [{ scenario: scenario.counterpart, broker: find('broker', scenario.counterpart), other, otherName: other.target }] : [];
    }
    const baseline = report.outcomes.find((o) => o.target === 'baseline' && o.scenario === scenario.name);
    return baseline ? [{ scenario: scenario.name, broker: find('broker', scenario.name), other: baseline, otherName: 'baseline' }] : [];
  });
  if (pairs.length === 0) return '';
  const header = ['scenario', 'figure', 'broker', 'compared with', 'its figure', 'broker ÷ it'];
  const rows = pairs.flatMap((pair) =>
    metrics.map((metric) => {
      const ours = pair.broker?.aggregate[metric.key];
      const theirs = pair.other.runs.length > 0 ? pair.other.aggregate[metric.key] : undefined;
      const ratio =
        ours !== undefined && theirs !== undefined && theirs !== 0 ? `${(ours / theirs).toFixed(2)}×` : pair.other.skipped !== undefined ? 'skipped' : '–';
      return [pair.scenario, metric.label, formatFigure(metric, ours), pair.otherName, formatFigure(metric, theirs), ratio];
    }),
  );
  return [
    'Side by side (for latencies a ratio below 1 is the broker being faster):',
    '',
    ...[header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`),
  ].join('\n');
}

function renderStorage(storage: readonly StorageSize[]): string {
  const mib = (value: number) => (Number.isNaN(value) ? 'n/a' : value.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 }));
  const header = [
    'store',
    'database',
    'events stored',
    'event log MiB',
    'read models MiB',
    'database MiB',
    'log MiB / 1M events',
    'read models MiB / 1M events',
    'log bytes / event',
    'largest tables (MiB)',
  ];
  const rows = storage.map((s) => [
    s.store,
    s.database,
    s.events.toLocaleString('en-US'),
    mib(s.logMiB),
    mib(s.readModelMiB),
    mib(s.databaseMiB),
    mib(s.logMiBPerMillionEvents),
    mib(s.readModelMiBPerMillionEvents),
    Number.isNaN(s.logBytesPerEvent) ? 'n/a' : s.logBytesPerEvent.toFixed(0),
    s.tables
      .slice(0, 6)
      .map((t) => `${t.table} ${mib(t.bytes / 1024 ** 2)}`)
      .join(', '),
  ]);
  return [header, header.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
