import { spawn, type ChildProcess } from 'node:child_process';

/** Executor processes a test starts; `stopAll` kills what is still running (the test's `after`). */
export class ExecutorProcesses {
  private readonly running = new Set<ChildProcess>();

  /** `script` on this Node with the test's environment plus `env`; stderr is drained, not shown. */
  start(script: string, env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    this.running.add(child);
    child.once('exit', () => this.running.delete(child));
    return child;
  }

  /** Signals the process and waits for it to exit (at once if it already has). */
  async stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((child) => this.stop(child, 'SIGKILL')));
  }
}
