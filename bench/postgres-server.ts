import { readdir, readFile } from 'node:fs/promises';
import pg from 'pg';
import { readProcessStat } from './proc-stats.js';

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database `ark_bench_<timestamp>[_<suffix>]` on the given server. */
export async function createBenchDatabase(serverUrl: string, startedAt: Date, suffix?: string): Promise<BenchDatabase> {
  const name = `ark_bench_${startedAt
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/\D/g, '')}${suffix === undefined ? '' : `_${suffix}`}`;
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => withClient(serverUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/**
 * CPU use of a PostgreSQL server running on this machine: the postmaster and all its children
 * (backends, WAL writer, checkpointer…), for every database on it, not only the broker's.
 */
export class PostgresServerCpu {
  private constructor(private readonly postmasterPid: number) {}

  /** Undefined when the server is not a local process this harness can see in /proc. */
  static async locate(databaseUrl: string): Promise<PostgresServerCpu | undefined> {
    try {
      // Read while connected: the backend process exits with the connection.
      const parentPid = await withClient(databaseUrl, async (client) => {
        const backendPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
        return backendPid === undefined ? undefined : (await readProcessStat(backendPid)).parentPid;
      });
      if (parentPid === undefined) return undefined;
      const postmasterCommand = await readFile(`/proc/${parentPid}/comm`, 'utf8');
      return postmasterCommand.trim() === 'postgres' ? new PostgresServerCpu(parentPid) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Backends that exited are counted too: their time is added to the postmaster's reaped-children time. */
  async cpuSeconds(): Promise<number> {
    const postmaster = await readProcessStat(this.postmasterPid);
    let seconds = postmaster.cpuSeconds + postmaster.reapedChildrenCpuSeconds;
    for (const entry of await readdir('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      // A process may exit between listing and reading.
      const child = await readProcessStat(Number(entry)).catch(() => undefined);
      if (child?.parentPid === this.postmasterPid) seconds += child.cpuSeconds;
    }
    return seconds;
  }
}
