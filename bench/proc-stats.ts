import { readFile } from 'node:fs/promises';

/** USER_HZ, the unit of CPU times in /proc, is 100 on every Linux ABI Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcessStat {
  parentPid: number;
  /** Own user + system CPU time, all threads. */
  cpuSeconds: number;
  /** User + system CPU time of its exited children that it has reaped. */
  reapedChildrenCpuSeconds: number;
}

export async function readProcessStat(pid: number): Promise<ProcessStat> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name (which may contain spaces), numbered as in proc(5):
  // 4 ppid, 14 utime, 15 stime, 16 cutime, 17 cstime.
  const field = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  const at = (number: number) => field[number - 3] ?? 0;
  return {
    parentPid: at(4),
    cpuSeconds: (at(14) + at(15)) / CLOCK_TICKS_PER_SECOND,
    reapedChildrenCpuSeconds: (at(16) + at(17)) / CLOCK_TICKS_PER_SECOND,
  };
}

export interface ProcessMemory {
  rssMiB: number;
  peakRssMiB: number;
}

/** Resident and peak resident memory, from /proc/<pid>/status. */
export async function readProcessMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMiB: kib('VmRSS') / 1024, peakRssMiB: kib('VmHWM') / 1024 };
}

/**
 * CPU time all cores spent on anything but idling and waiting for I/O, from /proc/stat. Beyond
 * broker + harness + PostgreSQL it shows whether something else competed for the machine.
 */
export async function machineBusySeconds(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const [, user, nice, system, , , irq, softirq, steal] = stat.slice(0, stat.indexOf('\n')).trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS_PER_SECOND;
}

/** A process the harness did not start but may observe (a --baseline-pid on this machine). */
export class ObservedProcess {
  constructor(readonly pid: number) {}

  memory(): Promise<ProcessMemory> {
    return readProcessMemory(this.pid);
  }

  async cpuSeconds(): Promise<number> {
    return (await readProcessStat(this.pid)).cpuSeconds;
  }
}
