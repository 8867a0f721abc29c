import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const BROKER_MAIN = fileURLToPath(new URL('../apps/broker/src/main.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const LOG_TAIL_LINES = 100;
/** USER_HZ, the unit of CPU times in /proc, is 100 on every Linux ABI Node runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database `ark_bench_<timestamp>` on the given server. */
export async function createBenchDatabase(serverUrl: string, startedAt: Date): Promise<BenchDatabase> {
  const name = `ark_bench_${startedAt.toISOString().replace(/\.\d+Z$/, '').replace(/\D/g, '')}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export interface BrokerMemory {
  rssMiB: number;
  peakRssMiB: number;
}

export interface BrokerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The broker under test, run as a child process (`node dist/apps/broker/src/main.js`). */
export class BrokerProcess {
  /** The last lines the broker logged (LOG_LEVEL=warn: only warnings and errors). */
  readonly logTail: string[] = [];
  logLineCount = 0;
  private readonly exited: Promise<BrokerExit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    for (const output of [child.stdout, child.stderr]) {
      if (!output) continue;
      createInterface({ input: output }).on('line', (line) => this.recordLogLine(line));
    }
  }

  static async start(databaseUrl: string): Promise<BrokerProcess> {
    const port = await freePort();
    const child = spawn(process.execPath, [BROKER_MAIN], {
      env: { ...process.env, DATABASE_URL: databaseUrl, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const broker = new BrokerProcess(child, `http://127.0.0.1:${port}`);
    try {
      await broker.waitUntilReady();
    } catch (error) {
      await broker.stop();
      throw error;
    }
    return broker;
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resident and peak resident memory, from /proc/<pid>/status. */
  async memory(): Promise<BrokerMemory> {
    const status = await readFile(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
  }

  /** User plus system CPU time the broker has used so far, all threads. */
  async cpuSeconds(): Promise<number> {
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces): utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  }

  /** SIGTERM (graceful: streams closed, appends drained), SIGKILL if it does not exit in time. */
  async stop(): Promise<BrokerExit> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const exit = await Promise.race([this.exited, sleep(STOP_TIMEOUT_MS, undefined)]);
    if (exit) return exit;
    this.child.kill('SIGKILL');
    return this.exited;
  }

  private async waitUntilReady(): Promise<void> {
    const deadline = performance.now() + READY_TIMEOUT_MS;
    let exit: BrokerExit | undefined;
    void this.exited.then((e) => (exit = e));
    while (performance.now() < deadline) {
      if (exit) throw new Error(`the broker exited before it was ready (code ${exit.code}, signal ${exit.signal}):\n${this.logTail.join('\n')}`);
      const ready = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) return;
      await sleep(100);
    }
    throw new Error(`the broker was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${this.logTail.join('\n')}`);
  }

  private recordLogLine(line: string): void {
    this.logLineCount++;
    this.logTail.push(line);
    if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
    process.stderr.write(`[broker] ${line}\n`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port assigned'))));
    });
  });
}
