#!/usr/bin/env node
import 'reflect-metadata';
import { Command } from 'commander';
import { EventSource } from 'eventsource';
import { loadBrokerConfig } from '#ark/config';
import { createPool, migrate } from '#ark/database';
import { inlineProjectors, ProjectionRebuilder } from '#ark/projections';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '#ark/database';
import { resolveDatabase, serveUntilSignalled } from '../../broker/src/index.js';

const program = new Command('ark-broker').description('Ark Broker: durable, real-time event broker for Ark');

/** Runs `work` against the configured database (embedded when DATABASE_URL is unset), then stops it. */
async function withDatabase(work: (url: string) => Promise<void>): Promise<void> {
  const target = await resolveDatabase(loadBrokerConfig());
  try {
    await work(target.url);
  } finally {
    await target.embedded?.stop();
  }
}

program
  .command('serve')
  .description('run the HTTP service (configuration from the environment, see README)')
  .action(() => serveUntilSignalled(process.env));

program
  .command('migrate')
  .description('apply pending SQL migrations (safe to run while replicas start)')
  .action(() =>
    withDatabase(async (url) => {
      const pool = createPool({ connectionString: url, max: 1, applicationName: 'ark-broker-migrate' });
      try {
        const report = await migrate(pool);
        console.log(report.applied.length ? `applied: ${report.applied.join(', ')}` : 'nothing to apply');
      } finally {
        await pool.end();
      }
    }),
  );

program
  .command('projections')
  .description('read-model maintenance')
  .command('rebuild')
  .description('truncate the read models and replay the whole log through the projectors')
  .action(() =>
    withDatabase(async (url) => {
      const pool = createPool({ connectionString: url, max: 2, applicationName: 'ark-broker-rebuild' });
      const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
      try {
        const report = await new ProjectionRebuilder(db, inlineProjectors()).rebuild();
        const rate = report.ms > 0 ? Math.round((report.events / report.ms) * 1000) : report.events;
        console.log(`rebuilt ${report.projectors.join(', ')} from ${report.events} events in ${Math.round(report.ms)} ms (${rate} events/s)`);
      } finally {
        await db.destroy();
      }
    }),
  );

program
  .command('tail')
  .description("print a running broker's events as they are appended (a session, or the whole feed)")
  .option('-u, --url <url>', 'broker base URL', process.env.ARK_BROKER_URL ?? 'http://127.0.0.1:8080')
  .option('-s, --session <id>', 'only this session (from its first event)')
  .option('-c, --cursor <cursor>', 'resume after this id (sequence, or tx:pos for the feed)')
  .action((options: { url: string; session?: string; cursor?: string }) => {
    const path = options.session ? `/v2/sessions/${encodeURIComponent(options.session)}/events` : '/v2/events';
    const url = new URL(path, options.url);
    url.searchParams.set('watch', 'true');
    if (options.cursor) url.searchParams.set('cursor', options.cursor);
    const source = new EventSource(url);
    source.onmessage = (message) => console.log(message.data);
    source.onerror = () => console.error(`(disconnected from ${options.url}; retrying)`);
  });

await program.parseAsync(process.argv);
