#!/usr/bin/env node
import 'reflect-metadata';
import { Command } from 'commander';
import { loadBrokerConfig } from '#ark/config';
import { createPool, EmbeddedPostgresError, migrate, migrationStatus, type MigrationStatus } from '#ark/database';
import { inlineProjectors, ProjectionRebuilder } from '#ark/projections';
import {
  PARTITION_DROP_AFTER_SECONDS,
  RetentionPolicy,
  RetentionRepository,
  TenantRetentionRepository,
  type EventPartition,
  type RetentionOverrides,
} from '#ark/retention';
import { AnalystTenants, ApiKeys, ROLES, type Role } from '#ark/tenancy';
import { InvalidArgumentError } from '#ark/errors';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '#ark/database';
import { registerClientCommands } from './client-commands.js';
import { progressBar } from './progress.js';

/** The broker app, loaded only by the commands that need it (the client commands start faster without Nest). */
const broker = () => import('../../broker/src/index.js');

const program = new Command('ark-broker').description('Ark Broker: durable, real-time event broker for Ark');

/**
 * Runs `work` against the configured database (embedded when DATABASE_URL is unset), then stops it.
 * The commands here administer the database: they log in as its owner (MIGRATE_DATABASE_URL when set).
 */
async function withDatabase(work: (url: string) => Promise<void>): Promise<void> {
  const target = await (await broker()).resolveDatabase(loadBrokerConfig());
  try {
    await work(target.ownerUrl);
  } finally {
    await target.embedded?.stop();
  }
}

/** Runs `work` with a Kysely handle on the configured database. */
async function withKysely(work: (db: Kysely<Database>) => Promise<void>): Promise<void> {
  await withDatabase(async (url) => {
    const pool = createPool({ connectionString: url, max: 2, applicationName: 'ark-broker-cli' });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      await work(db);
    } finally {
      await db.destroy();
    }
  });
}

program
  .command('serve')
  .description('run the HTTP service (configuration from the environment, see README)')
  .action(async () => (await broker()).serveUntilSignalled(process.env));

/** `ark-broker migrate` and `migrate status`: the plan, read without the lock. */
function printStatus(status: MigrationStatus): void {
  const last = status.applied.at(-1);
  console.log(`applied: ${status.applied.length} migrations${last ? `, the last ${last.version}_${last.name} at ${last.appliedAt.toISOString()}` : ''}`);
  console.log(status.pending.length ? `pending: ${status.pending.length}` : 'pending: none');
  for (const m of status.pending) console.log(`  ${m.version}_${m.name}${m.transactional ? '' : ' (no transaction: concurrent index builds)'}`);
  console.log(status.repeatables.length ? `functions and views to (re)apply: ${status.repeatables.join(', ')}` : 'functions and views: up to date');
  for (const m of status.changed) console.log(`CHANGED after it was applied (migrate stops on it): ${m}`);
}

const migrateCommand = program
  .command('migrate')
  .description('apply pending SQL migrations (safe to run beside running replicas and other migrators); no time limit')
  .option('--dry-run', 'print what would be applied, change nothing')
  .option('--progress', 'draw the progress bar even when stderr is not a terminal (e.g. in a CI log)')
  .action((options: { dryRun?: boolean; progress?: boolean }) =>
    withDatabase(async (url) => {
      const pool = createPool({ connectionString: url, max: 1, applicationName: 'ark-broker-migrate' });
      try {
        if (options.dryRun) {
          const status = await migrationStatus(pool);
          printStatus(status);
          if (status.changed.length > 0) process.exitCode = 1;
          return;
        }
        const progress = progressBar('migrating', 'migrations', options.progress);
        const report = await migrate(pool, undefined, {
          log: (line) => progress.log(`${new Date().toISOString()} ${line}`),
          onProgress: (applied, pending) => progress.update(applied, pending),
        }).finally(() => progress.stop());
        const applied = [...report.applied, ...report.repeatables];
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'nothing to apply');
      } finally {
        await pool.end();
      }
    }),
  );

migrateCommand
  .command('status')
  .description('list applied and pending migrations; exit code 1 when an applied migration file changed')
  .action(() =>
    withDatabase(async (url) => {
      const pool = createPool({ connectionString: url, max: 1, applicationName: 'ark-broker-migrate-status' });
      try {
        const status = await migrationStatus(pool);
        printStatus(status);
        if (status.changed.length > 0) process.exitCode = 1;
      } finally {
        await pool.end();
      }
    }),
  );

program
  .command('projections')
  .description('read-model maintenance')
  .command('rebuild')
  .description('replay the whole log through the projectors into copies of the read models, then swap them in (appends wait only for the swap)')
  .option('--progress', 'draw the progress bar even when stderr is not a terminal (e.g. in a CI log)')
  .action((options: { progress?: boolean }) =>
    withKysely(async (db) => {
      const projectors = inlineProjectors({ sessionsTtlSeconds: loadBrokerConfig().SESSIONS_VISIBILITY_TTL_SECONDS });
      const progress = progressBar('rebuilding', 'events', options.progress);
      const report = await new ProjectionRebuilder(db, projectors)
        .rebuild(undefined, (replayed, total) => progress.update(replayed, total))
        .finally(() => progress.stop());
      const rate = report.ms > 0 ? Math.round((report.events / report.ms) * 1000) : report.events;
      console.log(
        `rebuilt ${report.projectors.join(', ')} from ${report.events} events in ${Math.round(report.ms)} ms (${rate} events/s); ` +
          `${report.catchUps} catch-up passes; swap ${Math.round(report.swapMs)} ms (appends waited that long), ${report.changedRows} rows changed`,
      );
    }),
  );

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const when = (date: Date | null) => date?.toISOString() ?? '-';

/** When the reaper drops a partition: once it ended (and an hour passed) and its newest row expired. */
const partitionDrop = (p: EventPartition): string => {
  if (p.isDefault) return p.rows > 0 ? 'never (must stay empty)' : '-';
  if (p.keptForEver) return 'never (a row has no TTL)';
  const ended = p.upperBound ? p.upperBound.getTime() + PARTITION_DROP_AFTER_SECONDS * 1000 : Infinity;
  const at = Math.max(ended, p.newestExpiresAt?.getTime() ?? 0);
  return at <= Date.now() ? 'next pass' : new Date(at).toISOString();
};

const retention = program.command('retention').description('retention of the log (docs/architecture.md#retention)');

/** The broker's retention settings from this environment, as a policy over the tenants' own. */
const retentionPolicy = (db: Kysely<Database>) => {
  const config = loadBrokerConfig();
  const defaults = {
    messageTtlSeconds: config.MESSAGE_VISIBILITY_TTL_SECONDS,
    eventTtlSeconds: config.EVENT_VISIBILITY_TTL_SECONDS,
    sessionsTtlSeconds: config.SESSIONS_VISIBILITY_TTL_SECONDS,
  };
  return { config, policy: new RetentionPolicy(defaults, new TenantRetentionRepository(db)) };
};

retention
  .command('status')
  .description(
    'settings, space per table, and per tenant: its own TTLs, events and sessions kept, the oldest, the next to expire, expired rows awaiting the reaper',
  )
  .action(() =>
    withKysely(async (db) => {
      const { config, policy } = retentionPolicy(db);
      const status = await new RetentionRepository(db).status();
      console.log(
        `visibility: messages ${config.MESSAGE_VISIBILITY_TTL_SECONDS} s, events ${config.EVENT_VISIBILITY_TTL_SECONDS} s, ` +
          `sessions ${config.SESSIONS_VISIBILITY_TTL_SECONDS} s after their last event`,
      );
      console.log(
        config.ROW_REAP_INTERVAL_SECONDS === 0
          ? 'reaper: off (ROW_REAP_INTERVAL_SECONDS=0)'
          : `reaper: every ${config.ROW_REAP_INTERVAL_SECONDS} s on each replica, ${config.ROW_REAP_BATCH_SIZE} rows a statement`,
      );
      console.log(
        `partitions of events: ${config.PARTITION_WIDTH_DAYS === 1 ? 'one a day' : `one every ${config.PARTITION_WIDTH_DAYS} days`} (UTC), made ${config.PARTITIONS_AHEAD_DAYS} days ahead; one whose rows all expired is dropped by the reaper`,
      );
      console.log('\ntable\tsize');
      for (const t of status.tables) console.log(`${t.table}\t${mib(t.bytes)}`);
      console.log('\npartition\tfrom\tto\tsize\trows\tnewest expiry\tdropped');
      for (const p of status.partitions) {
        const expiry = p.keptForEver ? 'never' : when(p.newestExpiresAt);
        console.log([p.name, p.isDefault ? 'DEFAULT' : when(p.lowerBound), when(p.upperBound), mib(p.bytes), p.rows, expiry, partitionDrop(p)].join('\t'));
      }
      const strays = status.partitions.find((p) => p.isDefault && p.rows > 0);
      if (strays)
        console.log(`\nALARM: ${strays.rows} events in ${strays.name}: recorded outside every partition (a clock far off, or partitions not created)`);
      console.log('\ntenant\tTTLs (messages/events/sessions, s)\tevents\toldest recorded\tnext expiry\texpired events\tsessions\texpired sessions');
      for (const t of status.tenants) {
        const e = await policy.effective(t.tenantId);
        const own = Object.values(await policy.overrides(t.tenantId)).some((v) => v !== null) ? ' (own)' : '';
        const ttls = `${e.messageTtlSeconds}/${e.eventTtlSeconds}/${e.sessionsTtlSeconds}${own}`;
        console.log([t.tenantId, ttls, t.events, when(t.oldestRecordedAt), when(t.nextExpiresAt), t.expiredEvents, t.sessions, t.expiredSessions].join('\t'));
      }
    }),
  );

const ttlOption = (value: string): number | null => {
  if (value === 'default') return null;
  if (!/^\d+$/.test(value)) throw new Error(`${JSON.stringify(value)}: expected seconds or "default"`);
  return Number(value);
};

retention
  .command('set')
  .description("set a tenant's own visibility TTLs (seconds, or `default` for the broker's setting); options left out go back to the default")
  .requiredOption('-t, --tenant <tenant>', 'the tenant')
  .option('--messages <seconds>', 'messages (MESSAGE_VISIBILITY_TTL_SECONDS)', ttlOption, null)
  .option('--events <seconds>', 'every other event (EVENT_VISIBILITY_TTL_SECONDS)', ttlOption, null)
  .option('--sessions <seconds>', 'sessions after their last event (SESSIONS_VISIBILITY_TTL_SECONDS)', ttlOption, null)
  .action((options: { tenant: string; messages: number | null; events: number | null; sessions: number | null }) =>
    withKysely(async (db) => {
      const overrides: RetentionOverrides = { messageTtlSeconds: options.messages, eventTtlSeconds: options.events, sessionsTtlSeconds: options.sessions };
      try {
        const e = await retentionPolicy(db).policy.set(options.tenant, overrides);
        console.log(`${options.tenant}: messages ${e.messageTtlSeconds} s, events ${e.eventTtlSeconds} s, sessions ${e.sessionsTtlSeconds} s`);
      } catch (error) {
        if (!(error instanceof InvalidArgumentError)) throw error;
        console.error(error.message);
        process.exitCode = 1;
      }
    }),
  );

const list = (value: string) =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
const keys = program.command('keys').description('API keys for producers and readers (used as `Authorization: Bearer <key>`)');

keys
  .command('create')
  .description('create a key bound to a tenant; prints it once')
  .requiredOption('-t, --tenant <tenant>', 'tenant the key acts for')
  .requiredOption('-n, --name <name>', 'who uses it, e.g. ark-controller')
  .option('-r, --roles <roles>', `comma-separated, of ${ROLES.join(', ')}`, 'producer')
  .option('--namespaces <namespaces>', 'comma-separated namespaces the key is meant for')
  .action((options: { tenant: string; name: string; roles: string; namespaces?: string }) =>
    withKysely(async (db) => {
      const created = await new ApiKeys(db).create(
        options.tenant,
        options.name,
        list(options.roles) as Role[],
        options.namespaces ? list(options.namespaces) : undefined,
      );
      console.log(`id:  ${created.id}\nkey: ${created.key}\n(store it now: it cannot be shown again)`);
    }),
  );

keys
  .command('list')
  .description('list keys (never their secrets)')
  .option('-t, --tenant <tenant>', 'only this tenant')
  .action((options: { tenant?: string }) =>
    withKysely(async (db) => {
      for (const k of await new ApiKeys(db).list(options.tenant)) {
        console.log(
          [
            k.id,
            k.tenantId,
            k.name,
            k.roles.join(','),
            k.namespaces?.join(',') ?? '*',
            k.createdAt.toISOString(),
            k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active',
          ].join('\t'),
        );
      }
    }),
  );

keys
  .command('revoke <id>')
  .description('revoke a key at once')
  .action((id: string) =>
    withKysely(async (db) => {
      const revoked = await new ApiKeys(db).revoke(id);
      console.log(revoked ? `revoked ${id}` : `no active key ${id}`);
      if (!revoked) process.exitCode = 1;
    }),
  );

const analysts = program
  .command('analysts')
  .description('the read-only SQL role for analysts: which database roles read which tenants through the analyst_* views');

analysts
  .command('grant <role>')
  .description('let a database role (e.g. a LOGIN role you created) read a tenant; grants it ark_analyst')
  .requiredOption('-t, --tenant <tenant>', 'tenant it may read')
  .action((role: string, options: { tenant: string }) =>
    withKysely(async (db) => {
      await new AnalystTenants(db).grant(role, options.tenant);
      console.log(`${role} reads tenant ${options.tenant} (views analyst_*)`);
    }),
  );

analysts
  .command('revoke <role>')
  .description('take a tenant (or, without --tenant, every tenant) away from a role')
  .option('-t, --tenant <tenant>', 'only this tenant')
  .action((role: string, options: { tenant?: string }) =>
    withKysely(async (db) => {
      const removed = await new AnalystTenants(db).revoke(role, options.tenant);
      console.log(`${role} lost ${removed} tenant(s)`);
    }),
  );

analysts
  .command('list')
  .description('every role and the tenants it reads')
  .action(() =>
    withKysely(async (db) => {
      for (const g of await new AnalystTenants(db).list()) console.log([g.roleName, g.tenantId, g.grantedAt.toISOString()].join('\t'));
    }),
  );

registerClientCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof EmbeddedPostgresError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
