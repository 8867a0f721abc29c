import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pg from 'pg';
import { loadBrokerConfig } from '#ark/config';
import { createBrokerApp, migrateDatabase } from '../../apps/broker/src/index.js';
import { createTestDatabase, type TestDatabase } from './test-database.js';

export interface TestBroker {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  app: NestFastifyApplication;
  database: TestDatabase;
  /** A separate pool for the test's own SQL. */
  sql: pg.Pool;
  close(): Promise<void>;
}

/** A migrated fresh database and a broker listening on a free loopback port. */
export async function startTestBroker(env: Record<string, string> = {}, database?: TestDatabase): Promise<TestBroker> {
  const db = database ?? (await createTestDatabase());
  const config = loadBrokerConfig({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'error', DATABASE_URL: db.url, ...env });
  await migrateDatabase(db.url);
  const app = await createBrokerApp(config, db.url);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const sql = new pg.Pool({ connectionString: db.url, max: 4 });
  sql.on('error', () => undefined); // an idle test connection killed by a test (pg_terminate_backend) is not a failure
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    database: db,
    sql,
    close: async () => {
      await app.close();
      await sql.end();
      if (!database) await db.drop();
    },
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}
