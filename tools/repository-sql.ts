import { BrokerConfig } from '#ark/config';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LogEvent } from 'kysely';
import { format } from 'sql-formatter';
import { DatabaseConnection, defaultMigrationsDir, EXAMPLE_TRANSACTION, sqlExamplesOf, tenantScope, type SqlExample } from '#ark/database';
import { EventLogRepository } from '#ark/event-store';
import { ChunkCompactionRepository, PlannerStatisticsRepository, RetentionRepository, TenantRetentionRepository } from '#ark/retention';
import { AnalystTenants, ApiKeys } from '#ark/tenancy';
import { ChunkStreamRepository } from '../apps/broker/src/compat/stream/chunk-stream.repository.js';
import { MemoryRepository } from '../apps/broker/src/compat/memory/memory.repository.js';
import { ExecutionRepository } from '../apps/broker/src/executions/execution.repository.js';
import { OperationEventsRepository } from '../apps/broker/src/compat/operation-events/operation-events.repository.js';
import { SessionsRepository } from '../apps/broker/src/compat/sessions/sessions.repository.js';
import { TracesRepository } from '../apps/broker/src/compat/traces/traces.repository.js';
import { LlmCallRepository } from '../apps/broker/src/sessions-v2/llm-call.repository.js';
import { QueryRepository } from '../apps/broker/src/sessions-v2/query.repository.js';
import { RawEventRepository } from '../apps/broker/src/sessions-v2/raw-event.repository.js';
import { ResumeContextRepository } from '../apps/broker/src/sessions-v2/resume-context.repository.js';
import { SessionSummaryRepository } from '../apps/broker/src/sessions-v2/session-summary.repository.js';
import { ToolCallRepository } from '../apps/broker/src/sessions-v2/tool-call.repository.js';

/** Where the SQL of the repositories is checked in: one file per repository source file. */
export const SQL_DIR = path.join(path.dirname(defaultMigrationsDir()), 'docs', 'sql');

type Repository = abstract new (...args: never) => object;

/** A repository whose `@GenerateSql` methods are recorded: its source file (relative to the repository root) and how to build it. */
export interface RecordedRepository {
  source: string;
  repository: Repository;
  create: (connection: DatabaseConnection) => object;
  /** The operator's (the CLI's): it works as the login user, as `ark-broker` does, not as the broker's role. */
  operator?: true;
}

export const RECORDED_REPOSITORIES: readonly RecordedRepository[] = [
  { source: 'libs/event-store/src/event-log.repository.ts', repository: EventLogRepository, create: (c) => new EventLogRepository(c.db) },
  { source: 'libs/tenancy/src/analyst-tenants.ts', repository: AnalystTenants, create: (c) => new AnalystTenants(c.db), operator: true },
  { source: 'libs/tenancy/src/api-keys.ts', repository: ApiKeys, create: (c) => new ApiKeys(c.db), operator: true },
  {
    source: 'libs/retention/src/chunk-compaction.repository.ts',
    repository: ChunkCompactionRepository,
    create: (c) => new ChunkCompactionRepository(c.db),
  },
  {
    source: 'libs/retention/src/planner-statistics.repository.ts',
    repository: PlannerStatisticsRepository,
    create: (c) => new PlannerStatisticsRepository(c.db),
  },
  { source: 'libs/retention/src/retention.repository.ts', repository: RetentionRepository, create: (c) => new RetentionRepository(c.db) },
  {
    source: 'libs/retention/src/tenant-retention.repository.ts',
    repository: TenantRetentionRepository,
    create: (c) => new TenantRetentionRepository(c.db),
  },
  { source: 'apps/broker/src/compat/memory/memory.repository.ts', repository: MemoryRepository, create: (c) => new MemoryRepository(c, new BrokerConfig()) },
  {
    source: 'apps/broker/src/compat/operation-events/operation-events.repository.ts',
    repository: OperationEventsRepository,
    create: (c) => new OperationEventsRepository(c, new BrokerConfig()),
  },
  { source: 'apps/broker/src/compat/sessions/sessions.repository.ts', repository: SessionsRepository, create: (c) => new SessionsRepository(c) },
  { source: 'apps/broker/src/compat/stream/chunk-stream.repository.ts', repository: ChunkStreamRepository, create: (c) => new ChunkStreamRepository(c) },
  { source: 'apps/broker/src/compat/traces/traces.repository.ts', repository: TracesRepository, create: (c) => new TracesRepository(c) },
  { source: 'apps/broker/src/executions/execution.repository.ts', repository: ExecutionRepository, create: (c) => new ExecutionRepository(c) },
  {
    source: 'apps/broker/src/sessions-v2/resume-context.repository.ts',
    repository: ResumeContextRepository,
    create: (c) => new ResumeContextRepository(c),
  },
  { source: 'apps/broker/src/sessions-v2/llm-call.repository.ts', repository: LlmCallRepository, create: (c) => new LlmCallRepository(c) },
  { source: 'apps/broker/src/sessions-v2/query.repository.ts', repository: QueryRepository, create: (c) => new QueryRepository(c) },
  { source: 'apps/broker/src/sessions-v2/raw-event.repository.ts', repository: RawEventRepository, create: (c) => new RawEventRepository(c) },
  {
    source: 'apps/broker/src/sessions-v2/session-summary.repository.ts',
    repository: SessionSummaryRepository,
    create: (c) => new SessionSummaryRepository(c),
  },
  { source: 'apps/broker/src/sessions-v2/tool-call.repository.ts', repository: ToolCallRepository, create: (c) => new ToolCallRepository(c) },
];

/** The file a repository's SQL goes to: its source file's name, `.sql` for `.ts`. */
const sqlFileOf = (source: string) => `${path.basename(source, '.ts')}.sql`;

/**
 * Calls every `@GenerateSql` example of every recorded repository on a migrated database (`url`)
 * and returns the SQL each sent, per file name. The pool has one connection, so statements a method
 * sends at once (Promise.all) reach the server, and the log, in the order the method sent them.
 */
export async function recordRepositorySql(url: string): Promise<Map<string, string>> {
  const sent: string[] = [];
  const log = (event: LogEvent) => void sent.push(event.query.sql);
  const connection = new DatabaseConnection({ url, poolSize: 1, log });
  const operatorConnection = new DatabaseConnection({ url, poolSize: 1, log, asBrokerRole: false });
  const files = new Map<string, string>();
  try {
    for (const { source, repository, create, operator } of RECORDED_REPOSITORIES) {
      const instance = create(operator ? operatorConnection : connection) as Record<string, (...args: unknown[]) => Promise<unknown>>;
      const sections: string[] = [];
      for (const [method, examples] of sqlExamplesOf(repository)) {
        for (const example of examples) {
          const title = `${repository.name}.${method}${example.name ? ` (${example.name})` : ''}`;
          const from = sent.length;
          try {
            await call(operator ? operatorConnection : connection, example, (args) => instance[method]!(...args));
          } catch (error) {
            throw new Error(`${title} failed on its example: ${(error as Error).message}`, { cause: error });
          }
          const statements = sent.slice(from);
          if (statements.length === 0) throw new Error(`${title} sent no SQL: give it an example that reaches the database`);
          sections.push([`-- ${title}`, ...statements.map(formatStatement)].join('\n'));
        }
      }
      if (sections.length === 0) throw new Error(`${repository.name} (${source}) has no @GenerateSql method`);
      files.set(
        sqlFileOf(source),
        `-- Generated by \`npm run sql:generate\` from the @GenerateSql examples of ${source}: do not edit.\n\n${sections.join('\n\n')}\n`,
      );
    }
  } finally {
    await connection.close();
    await operatorConnection.close();
  }
  return files;
}

/** Writes the files to `dir`, removing the `.sql` files of repositories no longer recorded. */
export async function writeRepositorySql(dir: string, files: ReadonlyMap<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of await readdir(dir)) if (name.endsWith('.sql') && !files.has(name)) await rm(path.join(dir, name));
  for (const [name, text] of files) await writeFile(path.join(dir, name), text);
}

/** Runs one example in its tenants' scope, a transaction opened (and rolled back) where it takes one. */
async function call(connection: DatabaseConnection, example: SqlExample, method: (args: unknown[]) => Promise<unknown>): Promise<void> {
  const run = async () => {
    if (!example.params.includes(EXAMPLE_TRANSACTION)) return void (await method([...example.params]));
    const trx = await connection.db.startTransaction().execute();
    try {
      await method(example.params.map((p) => (p === EXAMPLE_TRANSACTION ? trx : p)));
    } finally {
      await trx.rollback().execute();
    }
  };
  await (example.tenants ? tenantScope.run(example.tenants, run) : run());
}

/** A statement laid out by sql-formatter (as Immich's), so statements built by Kysely read as well as written ones. */
function formatStatement(statement: string): string {
  const text = format(statement, { language: 'postgresql' });
  // After a trailing line comment, a `;` on the same line would be part of the comment.
  return /--[^\n]*$/.test(text) ? `${text}\n;` : `${text};`;
}
