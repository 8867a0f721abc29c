import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool, migrate, startEmbeddedPostgres } from '#ark/database';

/**
 * Runs `work` on a freshly migrated database, dropped after: made on the server of TEST_DATABASE_URL
 * when set, else on a throw-away embedded PostgreSQL. `work` gets its URL and a one-connection pool
 * as the tables' owner.
 */
export async function withMigratedDatabase<T>(work: (url: string, pool: pg.Pool) => Promise<T>): Promise<T> {
  let serverUrl = process.env.TEST_DATABASE_URL;
  let stop = async () => {};
  if (!serverUrl) {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-tool-'));
    await chmod(scratch, 0o755);
    const embedded = await startEmbeddedPostgres({
      dataDir: path.join(scratch, 'data'),
      port: 54_000 + Math.floor(Math.random() * 1000),
      database: 'postgres',
    });
    serverUrl = embedded.url;
    stop = async () => {
      await embedded.stop();
      await rm(scratch, { recursive: true, force: true });
    };
  }
  const name = `ark_tool_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const pool = createPool({ connectionString: url.toString(), max: 1 });
    try {
      await migrate(pool);
      return await work(url.toString(), pool);
    } finally {
      await pool.end();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await stop();
  }
}
