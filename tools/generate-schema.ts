/**
 * `npm run schema:generate`: migrates a fresh database and writes its schema to docs/schema.sql
 * (test/schema.test.ts fails while the checked-in file is stale). The database is made on the server
 * of TEST_DATABASE_URL when set, else on a throw-away embedded PostgreSQL.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withMigratedDatabase } from './migrated-database.js';
import { dumpSchema, SCHEMA_FILE } from './schema-dump.js';

await withMigratedDatabase(async (_url, pool) => {
  const client = await pool.connect();
  try {
    await writeFile(SCHEMA_FILE, await dumpSchema(client));
  } finally {
    client.release();
  }
});
console.log(`wrote ${path.relative(process.cwd(), SCHEMA_FILE)}`);
