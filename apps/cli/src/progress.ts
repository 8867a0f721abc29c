import { MultiBar, type SingleBar } from 'cli-progress';

/** A progress bar on stderr with rate and ETA (cli-progress), and a way to print lines above it. */
export interface Progress {
  update(done: number, total: number): void;
  /** A line printed above the bar (or as is, without one). */
  log(line: string): void;
  stop(): void;
}

/**
 * A bar of `unit`s for `label` when stderr is a terminal, or with `force` (e.g. `--progress` in a
 * CI log, where it is redrawn once a second as plain lines); else only the lines.
 */
export function progressBar(label: string, unit: string, force = false): Progress {
  if (!process.stderr.isTTY && !force) return { update: () => undefined, log: (line) => console.log(line), stop: () => undefined };
  const started = performance.now();
  const bars = new MultiBar({
    stream: process.stderr,
    format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
    barCompleteChar: '█',
    barIncompleteChar: '░',
    hideCursor: true,
    noTTYOutput: !process.stderr.isTTY,
    notTTYSchedule: 1000,
    etaBuffer: 20,
  });
  let bar: SingleBar | undefined;
  const rate = (done: number) => {
    const seconds = (performance.now() - started) / 1000;
    return seconds > 0 ? Math.round(done / seconds) : 0;
  };
  return {
    update: (done, total) => {
      bar ??= bars.create(total, 0, { rate: 0 });
      bar.setTotal(total);
      bar.update(done, { rate: rate(done) });
    },
    log: (line) => bars.log(`${line}\n`),
    stop: () => {
      // stop() draws the bars but not the lines logged since the last redraw (a run shorter than
      // one redraw would lose them): one last redraw writes them first.
      if (bar) bars.update();
      bars.stop();
    },
  };
}
