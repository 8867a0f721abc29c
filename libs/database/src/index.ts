export { BROKER_ROLE, DatabaseConnection, type DatabaseOptions } from './database-connection.js';
export { inScope, sessionLive, sessionShown, sessionVisible, tenantScope, type ReadScope } from './tenant-scope.js';
export { DatabaseModule } from './database.module.js';
export { EmbeddedPostgresError, startEmbeddedPostgres, type EmbeddedPostgresHandle } from './embedded-postgres.js';
export {
  migrate,
  migrationStatus,
  readMigrations,
  defaultMigrationsDir,
  MigrationTimeoutError,
  type MigrateOptions,
  type MigrationReport,
  type MigrationStatus,
} from './migrator.js';
export { createClient, createPool, withRootCertificate } from './pool.js';
export type { Database, EventsTable, LlmCallsTable, QueriesTable, SessionQueriesTable, SessionRow, SessionsTable, ToolCallsTable } from './schema.js';
export { PREPARED } from './prepared-statements.js';
export { EXAMPLE_ADMIN, EXAMPLE_READER, EXAMPLE_TRANSACTION, GenerateSql, sqlExamplesOf, type SqlExample } from './generate-sql.js';
