import pg from 'pg';
import { prepareMarkedStatements } from './prepared-statements.js';

// int8 (bigint) columns hold sequences, positions and counts, all far below 2^53: read them as numbers.
// xid8 (oid 5069) stays a string, it is only ever passed back to PostgreSQL.
const INT8_OID = 20;
const brokerTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format) as (value: string) => unknown;
  },
};

export interface PoolOptions {
  connectionString: string;
  max: number;
  applicationName?: string;
  /** Work as this role (set at connection start, so a pooled connection never runs as its login user). */
  role?: string;
  /** Further settings fixed at connection start, e.g. `ark.tenant_ids` for a tool that reads as one tenant. */
  settings?: Record<string, string>;
}

/** The `options` startup parameter: `-c name=value` for the role and each setting. */
function startupOptions(options: PoolOptions): string {
  const settings = { ...(options.role ? { role: options.role } : {}), ...options.settings };
  return Object.entries(settings)
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ');
}

/**
 * DATABASE_SSL_ROOT_CERT_PATH (upstream ark-broker's name; the Helm chart's database.tls sets it): a
 * CA file to verify the server's certificate against, for every connection this process opens, as
 * libpq reads PGSSLROOTCERT. Added to the URL as `sslrootcert` (node-postgres reads the file from
 * there; an `ssl` option would be overridden by the URL's own ssl settings), with
 * `sslmode=verify-full` when the URL names no sslmode. A URL that names sslrootcert keeps it.
 */
export function withRootCertificate(connectionString: string, caPath = process.env.DATABASE_SSL_ROOT_CERT_PATH): string {
  if (!caPath) return connectionString;
  const url = new URL(connectionString);
  if (url.searchParams.has('sslrootcert')) return connectionString;
  url.searchParams.set('sslrootcert', caPath);
  if (!url.searchParams.has('sslmode')) url.searchParams.set('sslmode', 'verify-full');
  return url.toString();
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: withRootCertificate(options.connectionString),
    max: options.max,
    application_name: options.applicationName ?? 'ark-broker',
    ...(startupOptions(options) ? { options: startupOptions(options) } : {}),
    types: brokerTypes,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client losing its connection (e.g. pg_terminate_backend, a database restart) must not
  // crash the process; the pool drops it and opens a new one on demand.
  pool.on('error', () => undefined);
  // Nor may a checked-out client between two queries (in a transaction, or waiting for the next
  // statement): pg emits 'error' on the client itself, uncaught unless listened to. Its next query
  // then fails, the request answers 5xx, and the broken client is discarded on release.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    prepareMarkedStatements(client);
  });
  return pool;
}

export function createClient(connectionString: string, applicationName: string): pg.Client {
  return new pg.Client({ connectionString: withRootCertificate(connectionString), application_name: applicationName, types: brokerTypes });
}
