import { execFileSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { withClient } from './postgres-server.js';

const REPOSITORY_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface Environment {
  date: string;
  commit: string;
  cpus: string;
  memoryGiB: number;
  kernel: string;
  /** 1, 5 and 15 minute load averages when the benchmark started: high means it did not have the machine to itself. */
  loadAverage: number[];
  node: string;
  /** `SELECT version()` of the --database-url server. */
  postgres: string;
  command: string;
}

export async function describeEnvironment(startedAt: Date, databaseUrl: string, argv: readonly string[]): Promise<Environment> {
  const processors = cpus();
  return {
    date: startedAt.toISOString(),
    commit: currentCommit(),
    cpus: `${processors.length} × ${processors[0]?.model.trim() ?? 'unknown'}`,
    memoryGiB: totalmem() / 1024 ** 3,
    kernel: `Linux ${release()}`,
    loadAverage: loadavg(),
    node: process.version,
    postgres: await withClient(databaseUrl, (client) => client.query<{ version: string }>('SELECT version()')).then(
      (result) => result.rows[0]?.version ?? 'unknown',
      (error: Error) => `unknown (${error.message})`,
    ),
    command: commandLine(argv),
  };
}

function currentCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPOSITORY_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

/** As the user typed it: `npm run bench -- …` when run through npm. */
function commandLine(argv: readonly string[]): string {
  const args = argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  if (process.env.npm_lifecycle_event === 'bench') return ['npm run bench', ...(args.length > 0 ? ['--', ...args] : [])].join(' ');
  return ['node dist/bench/run.js', ...args].join(' ');
}
