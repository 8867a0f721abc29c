/**
 * `npm run sql:generate`: calls every `@GenerateSql` example of the repositories on a freshly migrated
 * database and writes the SQL they send to docs/sql, one file per repository (as Immich's
 * `sync:sql`); test/repository-sql.test.ts fails while those files are stale. The database is made on
 * the server of TEST_DATABASE_URL when set, else on a throw-away embedded PostgreSQL.
 */
import path from 'node:path';
import { withMigratedDatabase } from './migrated-database.js';
import { recordRepositorySql, SQL_DIR, writeRepositorySql } from './repository-sql.js';

const files = await withMigratedDatabase((url) => recordRepositorySql(url));
await writeRepositorySql(SQL_DIR, files);
console.log(`wrote ${files.size} files to ${path.relative(process.cwd(), SQL_DIR)}`);
