/**
 * `npm test`: runs the suite against TEST_DATABASE_URL when it is set, else against a throw-away
 * embedded PostgreSQL started here (and stopped after). Each test file makes its own database.
 * Arguments name test files or directories (`npm run test:unit`: dist/test/unit); none: the HTTP
 * suite (dist/test) and the unit tier (dist/test/unit).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '#ark/database';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

let embedded: EmbeddedPostgresHandle | undefined;
let scratch: string | undefined;
const env = { ...process.env };
if (!env.TEST_DATABASE_URL) {
  scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-test-pg-'));
  embedded = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'data'), port: await freePort(), database: 'postgres' });
  env.TEST_DATABASE_URL = embedded.url;
  console.log(`# embedded PostgreSQL for tests at ${embedded.url.replace(/:[^:@/]+@/, ':***@')}`);
} else {
  console.log(`# tests use TEST_DATABASE_URL`);
}

/**
 * Files that measure latency under load and so must not share the machine with another test file
 * (the suite runs two at once): they run after the rest, one at a time.
 */
const ALONE = new Set(['tenant-load.test.js']);

function runTests(testFiles: string[], concurrency: number): Promise<number> {
  const child = spawn(process.execPath, ['--test', `--test-concurrency=${concurrency}`, '--test-timeout=240000', ...testFiles], { stdio: 'inherit', env });
  return new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
}

/** Test files of the arguments (files, or directories whose `*.test.js` are taken); none: every tier. */
async function testFiles(args: string[]): Promise<string[]> {
  const targets = args.length > 0 ? args : [path.join('dist', 'test'), path.join('dist', 'test', 'unit')];
  const files: string[] = [];
  for (const target of targets) {
    if (!(await stat(target)).isDirectory()) {
      files.push(target);
      continue;
    }
    const names = (await readdir(target)).filter((f) => f.endsWith('.test.js')).sort();
    files.push(...names.map((f) => path.join(target, f)));
  }
  return files;
}

const all = await testFiles(process.argv.slice(2));
const together = all.filter((f) => !ALONE.has(path.basename(f)));
// An empty list would make `node --test` search the working directory for tests of its own.
let code = together.length > 0 ? await runTests(together, 2) : 0;
const alone = all.filter((f) => ALONE.has(path.basename(f)));
if (alone.length > 0) code = Math.max(code, await runTests(alone, 1));
await embedded?.stop();
if (scratch) await rm(scratch, { recursive: true, force: true });
process.exit(code);
