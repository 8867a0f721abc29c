import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { EVENT_WRITTEN_COLUMNS } from '#ark/event-store';
import { withClient } from './postgres-server.js';

/** Rows per string handed to the COPY stream. */
const ROWS_PER_WRITE = 500;
/** Rows per session in the copied table, like one batch of a broker worker's sessions. */
const ROWS_PER_SESSION = 100;

/** The `events` columns a writer supplies (the rest have defaults), in COPY order. */
const COPIED_COLUMNS = EVENT_WRITTEN_COLUMNS;
/** Those taken from the broker's stored rows: all but the key. */
const SAMPLED_COLUMNS = COPIED_COLUMNS.filter((c) => c !== 'tenant_id' && c !== 'session_id' && c !== 'sequence');

/** `events` with its columns, defaults and CHECKs but none of its secondary indexes: only the primary key. */
const bareEventsTable = (name: string) =>
  `CREATE TABLE ${name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING IDENTITY, PRIMARY KEY (tenant_id, session_id, sequence))`;

export interface CopyCeiling {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  mebibytes: number;
}

/**
 * The raw-COPY ceiling for `rows` rows like those the broker stored in `sessionIds`: the first
 * `samplesPerSession` stored rows of each (their columns but the key, `data` as stored) are read back
 * as samples, then `rows` rows cycling
 * over them are streamed with one `COPY … FROM STDIN` (pg-copy-streams, text format, one
 * connection, its own transaction) into a fresh bare table in the same database. Timed: COPY sent →
 * committed. The table is dropped afterwards.
 */
export async function measureCopyCeiling(databaseUrl: string, sessionIds: readonly string[], samplesPerSession: number, rows: number): Promise<CopyCeiling> {
  return withClient(databaseUrl, async (client) => {
    const samples = await sampleRows(client, sessionIds, samplesPerSession);
    if (samples.length === 0) throw new Error('no stored rows to sample for the COPY ceiling');
    const table = `bench_copy_ceiling_${process.pid}_${Date.now()}`;
    await client.query(bareEventsTable(table));
    try {
      let bytes = 0;
      const lines = function* (): Generator<string> {
        for (let first = 0; first < rows; first += ROWS_PER_WRITE) {
          let text = '';
          for (let row = first; row < Math.min(first + ROWS_PER_WRITE, rows); row++) {
            text += `bench\tcopy-${Math.floor(row / ROWS_PER_SESSION)}\t${(row % ROWS_PER_SESSION) + 1}\t${samples[row % samples.length]}\n`;
          }
          bytes += Buffer.byteLength(text);
          yield text;
        }
      };
      const started = performance.now();
      await pipeline(Readable.from(lines()), client.query(copyFrom(`COPY ${table} (${COPIED_COLUMNS.join(', ')}) FROM STDIN`)));
      const seconds = (performance.now() - started) / 1000;
      return { rows, seconds, rowsPerSecond: rows / seconds, mebibytes: bytes / 1024 ** 2 };
    } finally {
      await client.query(`DROP TABLE IF EXISTS ${table}`);
    }
  });
}

/** The first `perSession` stored rows of each session, each as the COPY text of its sampled columns. */
async function sampleRows(client: pg.Client, sessionIds: readonly string[], perSession: number): Promise<string[]> {
  // As text, in PostgreSQL's own output format, which COPY reads back (jsonb, timestamptz…).
  const columns = SAMPLED_COLUMNS.map((c) => `e.${c}::text AS ${c}`);
  const result = await client.query<Record<string, string | null>>({
    text: `SELECT ${columns.join(', ')}
             FROM event_streams s
            CROSS JOIN LATERAL (SELECT * FROM events WHERE tenant_id = s.tenant_id AND session_id = s.session_id ORDER BY sequence LIMIT $2) e
            WHERE s.session_id = ANY($1)
            ORDER BY s.session_id, e.sequence`,
    values: [sessionIds, perSession],
  });
  return result.rows.map((row) => SAMPLED_COLUMNS.map((c) => copyText(row[c] ?? null)).join('\t'));
}

/** A value in COPY's text format. */
function copyText(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

/** Spans the broker stored in these sessions (the sessions are new per run, so it is exactly this run's). */
export async function countStoredEvents(databaseUrl: string, sessionIds: readonly string[]): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM event_streams s JOIN events e USING (tenant_id, session_id) WHERE s.session_id = ANY($1)',
      [sessionIds],
    );
    return result.rows[0]?.n ?? 0;
  });
}

/** Events stored in the sessions whose ids start with `prefix` (a run's, when its sessions are made per batch). */
export async function countStoredEventsUnder(databaseUrl: string, prefix: string): Promise<number> {
  return withClient(databaseUrl, async (client) => {
    const result = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM event_streams s JOIN events e USING (tenant_id, session_id)
        WHERE starts_with(s.session_id, $1)`,
      [prefix],
    );
    return result.rows[0]?.n ?? 0;
  });
}
