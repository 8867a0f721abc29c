import { parseArgs } from 'node:util';

export interface BenchOptions {
  /** Benchmark this running broker instead of starting one. */
  url: string | undefined;
  /** Another broker speaking the same API, run through the same scenarios for comparison. */
  baselineUrl: string | undefined;
  /** The baseline's process id on this machine, so that its CPU and RSS are measured like the broker's. */
  baselinePid: number | undefined;
  /** PostgreSQL server on which a fresh database is created for the broker the harness starts. */
  databaseUrl: string;
  durationSeconds: number;
  runs: number;
  /** Scenario names to run; undefined: all. */
  only: string[] | undefined;
}

export const USAGE = `Usage: npm run bench -- [options]

  --url <base>            benchmark an already-running broker instead of starting one
  --baseline-url <base>   also run the scenarios against this broker (same API), for comparison
  --baseline-pid <pid>    the baseline's process on this machine: its CPU % and RSS are reported too
  --database-url <url>    PostgreSQL server for the started broker's fresh database
                          (default: $BENCH_DATABASE_URL or postgres://postgres@127.0.0.1:5432/postgres)
  --duration <seconds>    length of each scenario run (default 5)
  --runs <n>              runs per scenario; figures are their median (default 3)
  --only <name,...>       run only these scenarios (a name also selects those it prefixes up to a dash,
                          e.g. otlp-proto: otlp-proto-c8 and otlp-proto-c32)
  --help                  show this text`;

export function parseOptions(argv: readonly string[], env: Record<string, string | undefined>): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      url: { type: 'string' },
      'baseline-url': { type: 'string' },
      'baseline-pid': { type: 'string' },
      'database-url': { type: 'string' },
      duration: { type: 'string', default: '5' },
      runs: { type: 'string', default: '3' },
      only: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  return {
    url: values.url === undefined ? undefined : baseUrl(values.url, '--url'),
    baselineUrl: values['baseline-url'] === undefined ? undefined : baseUrl(values['baseline-url'], '--baseline-url'),
    baselinePid: values['baseline-pid'] === undefined ? undefined : boundedNumber(values['baseline-pid'], '--baseline-pid', 1, 2 ** 22),
    databaseUrl: values['database-url'] ?? env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    // Bounded so that a typo cannot start an hour-long run.
    durationSeconds: boundedNumber(values.duration, '--duration', 1, 300),
    runs: boundedNumber(values.runs, '--runs', 1, 20),
    only: values.only
      ?.split(',')
      .map((name) => name.trim())
      .filter((name) => name.length > 0),
  };
}

function boundedNumber(text: string, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}

/** Without a trailing slash, so API paths can be appended. */
function baseUrl(text: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${flag} must be an http(s) URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${flag} must be an http(s) URL, got ${JSON.stringify(text)}`);
  return url.href.replace(/\/+$/, '');
}
