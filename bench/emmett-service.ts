import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BrokerProcess } from './broker-process.js';
import { createBenchDatabase, type BenchDatabase } from './postgres-server.js';

const EMMETT_SERVER = fileURLToPath(new URL('./emmett-server.js', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../../package.json', import.meta.url));

/** The pinned version of `@event-driven-io/emmett-postgresql` (package.json devDependencies), for the report. */
export const EMMETT_VERSION: string =
  (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { devDependencies?: Record<string, string> }).devDependencies?.['@event-driven-io/emmett-postgresql'] ??
  'unknown';

export interface EmmettService {
  database: BenchDatabase;
  process: BrokerProcess;
}

/** The Emmett reference service (bench/emmett-server.ts) on its own fresh database of the same server; the database is dropped if it cannot start. */
export async function startEmmett(serverUrl: string, startedAt: Date): Promise<EmmettService> {
  const database = await createBenchDatabase(serverUrl, startedAt, 'emmett');
  try {
    return { database, process: await BrokerProcess.start(database.url, { script: EMMETT_SERVER, label: 'emmett' }) };
  } catch (error) {
    await database.drop().catch(() => undefined);
    throw error;
  }
}
