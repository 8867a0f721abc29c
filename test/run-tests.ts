/**
 * `npm test`: runs the suite against TEST_DATABASE_URL when it is set, else against a throw-away
 * embedded PostgreSQL started here (and stopped after). Each test file makes its own database.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
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
  await chmod(scratch, 0o755); // the postgres user (when we are root) must reach the data directory
  embedded = await startEmbeddedPostgres({ dataDir: path.join(scratch, 'data'), port: await freePort(), database: 'postgres' });
  env.TEST_DATABASE_URL = embedded.url;
  console.log(`# embedded PostgreSQL for tests at ${embedded.url.replace(/:[^:@/]+@/, ':***@')}`);
} else {
  console.log(`# tests use TEST_DATABASE_URL`);
}

const files = process.argv.slice(2);
const child = spawn(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-timeout=240000', ...(files.length ? files : ['dist/test/**/*.test.js'])],
  { stdio: 'inherit', env },
);
const code: number = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
await embedded?.stop();
if (scratch) await rm(scratch, { recursive: true, force: true });
process.exit(code);
