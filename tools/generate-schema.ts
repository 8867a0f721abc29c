/**
 * `npm run schema:generate`: migrates a fresh database and writes its schema to docs/schema.sql
 * (test/schema.test.ts fails while the checked-in file is stale). The database is made on the server
 * of TEST_DATABASE_URL when set, else on a throw-away embedded PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createPool, migrate, startEmbeddedPostgres } from '#ark/database';
import { dumpSchema, SCHEMA_FILE } from './schema-dump.js';

async function main(): Promise<void> {
  let serverUrl = process.env.TEST_DATABASE_URL;
  let stop = async () => {};
  if (!serverUrl) {
    const scratch = await mkdtemp(path.join(os.tmpdir(), 'ark-broker-schema-'));
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
  const name = `ark_schema_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    const pool = createPool({ connectionString: url.toString(), max: 1 });
    try {
      await migrate(pool);
      const client = await pool.connect();
      try {
        await writeFile(SCHEMA_FILE, await dumpSchema(client));
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
    console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
    await stop();
  }
}

await main();
