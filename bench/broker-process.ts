import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { readProcessMemory, readProcessStat, type ProcessMemory } from './proc-stats.js';

const BROKER_MAIN = fileURLToPath(new URL('../apps/broker/src/main.js', import.meta.url));
/**
 * The memory settings the container image runs the broker with (Dockerfile; README "Broker memory"):
 * a smaller young generation, slower old-space growth, and socket-read buffers that glibc returns on free.
 */
const BROKER_NODE_FLAGS = ['--max-semi-space-size=16', '--heap-growing-percent=50'];
const BROKER_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '65536', MALLOC_TRIM_THRESHOLD_: '131072' };
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const LOG_TAIL_LINES = 100;

export interface BrokerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * The broker under test, run as a child process (`node dist/apps/broker/src/main.js`), or another
 * service the harness compares it with (the Emmett reference, `script`), run the same way.
 */
export class BrokerProcess {
  /** The last lines the broker logged (LOG_LEVEL=warn: only warnings and errors). */
  readonly logTail: string[] = [];
  logLineCount = 0;
  private readonly exited: Promise<BrokerExit>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    private readonly label: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    for (const output of [child.stdout, child.stderr]) {
      if (!output) continue;
      createInterface({ input: output }).on('line', (line) => this.recordLogLine(line));
    }
  }

  /** `label` prefixes its log lines and errors; `settings` are added to the broker's environment. */
  static async start(
    databaseUrl: string,
    service: { script: string; label: string } = { script: BROKER_MAIN, label: 'broker' },
    settings: Record<string, string> = {},
  ): Promise<BrokerProcess> {
    const port = await freePort();
    const isBroker = service.script === BROKER_MAIN;
    const child = spawn(process.execPath, [...(isBroker ? BROKER_NODE_FLAGS : []), service.script], {
      env: {
        ...process.env,
        ...(isBroker ? BROKER_MALLOC_ENV : {}),
        DATABASE_URL: databaseUrl,
        PORT: String(port),
        HOST: '127.0.0.1',
        LOG_LEVEL: 'warn',
        // The watch scenarios open up to 1,000 streams as one user; the per-user cap would refuse them.
        WATCH_STREAMS_PER_USER: '100000',
        NO_COLOR: '1',
        ...settings,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const broker = new BrokerProcess(child, `http://127.0.0.1:${port}`, service.label);
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

  /** Resident and peak resident memory. */
  memory(): Promise<ProcessMemory> {
    return readProcessMemory(this.pid);
  }

  /** User plus system CPU time the broker has used so far, all threads. */
  async cpuSeconds(): Promise<number> {
    return (await readProcessStat(this.pid)).cpuSeconds;
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
      if (exit) throw new Error(`the ${this.label} exited before it was ready (code ${exit.code}, signal ${exit.signal}):\n${this.logTail.join('\n')}`);
      const ready = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then(
        (response) => response.status === 200,
        () => false,
      );
      if (ready) return;
      await sleep(100);
    }
    throw new Error(`the ${this.label} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${this.logTail.join('\n')}`);
  }

  private recordLogLine(line: string): void {
    this.logLineCount++;
    this.logTail.push(line);
    if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
    process.stderr.write(`[${this.label}] ${line}\n`);
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
