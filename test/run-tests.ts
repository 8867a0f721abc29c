/**
 * `npm test`: runs the suite against TEST_DATABASE_URL when it is set, else against a throw-away
 * embedded PostgreSQL started here (and stopped after). Each test file makes its own database.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
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

let code: number;
const files = process.argv.slice(2);
if (files.length > 0) {
  code = await runTests(files, 2);
} else {
  const dir = path.join('dist', 'test');
  const all = (await readdir(dir)).filter((f) => f.endsWith('.test.js')).sort();
  code = await runTests(
    all.filter((f) => !ALONE.has(f)).map((f) => path.join(dir, f)),
    2,
  );
  const alone = all.filter((f) => ALONE.has(f)).map((f) => path.join(dir, f));
  if (alone.length > 0) code = Math.max(code, await runTests(alone, 1));
}
await embedded?.stop();
if (scratch) await rm(scratch, { recursive: true, force: true });
process.exit(code);
