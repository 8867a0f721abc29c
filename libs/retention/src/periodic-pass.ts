/**
 * A pass run at start and then every interval, never two at once (a pass asked for while one runs
 * joins it); `stop` ends the timer and waits for the pass in flight, which checks `stopping` between
 * its statements. What the row reaper, the chunk compactor and the query queue's upkeep share.
 */
export class PeriodicPass<R> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<R> | undefined;
  private stopped = false;

  constructor(
    private readonly intervalSeconds: number,
    private readonly pass: () => Promise<R>,
    private readonly settled: { done(report: R): void; failed(error: unknown): void },
  ) {}

  get stopping(): boolean {
    return this.stopped;
  }

  /** Does nothing with an interval of 0 (the setting that switches the pass off). */
  start(): void {
    if (this.intervalSeconds === 0) return;
    this.stopped = false;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a pass in flight, so the pool can close after. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass; a pass already going is joined. */
  once(): Promise<R> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  private tick(): void {
    this.once().then(
      (report) => this.settled.done(report),
      (error: unknown) => this.settled.failed(error),
    );
  }
}
