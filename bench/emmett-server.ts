import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql';
import pg from 'pg';

/**
 * The Emmett reference for the append benchmarks: a minimal HTTP service (node:http, no framework)
 * that takes `POST /v2/events` bodies as the broker does (one event or an array) and appends each
 * session's events with ONE `appendToStream` call of `@event-driven-io/emmett-postgresql` (one
 * transaction), answering `201 {items: [{sessionId, sequence, duplicate}]}` like the broker, so the
 * harness's append scenario drives both unchanged. Run by the harness as a child process:
 * `DATABASE_URL=… PORT=… node dist/bench/emmett-server.js`.
 */

/** As many connections as the broker's pool (DATABASE_POOL_MAX default 20), so neither waits on a smaller pool. */
const POOL_MAX = 20;
const MAX_BODY_BYTES = 16 * 1024 * 1024;

interface PostedEvent {
  sessionId: string;
  type: string;
  data: Record<string, unknown>;
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('DATABASE_URL is required');
const pool = new pg.Pool({ connectionString: databaseUrl, max: POOL_MAX });
const eventStore = getPostgreSQLEventStore(databaseUrl, { connectionOptions: { pool }, schema: { autoMigration: 'None' } });
// Before listening: the schema is made once, outside any measured request.
await eventStore.schema.migrate();

const server = createServer((request, response) => {
  void handle(request, response).catch((error: Error) => answer(response, 500, { error: { code: 'internal', message: error.message } }));
});

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method === 'GET' && (request.url === '/readyz' || request.url === '/health')) return answer(response, 200, { status: 'ok' });
  if (request.method !== 'POST' || request.url !== '/v2/events')
    return answer(response, 404, { error: { code: 'not_found', message: `${request.method} ${request.url}` } });
  const body = await readBody(request);
  const parsed = JSON.parse(body) as PostedEvent | PostedEvent[];
  const events = Array.isArray(parsed) ? parsed : [parsed];
  const bySession = new Map<string, PostedEvent[]>();
  for (const event of events) {
    if (typeof event.sessionId !== 'string' || typeof event.type !== 'string')
      return answer(response, 400, { error: { code: 'validation', message: 'sessionId and type are required' } });
    bySession.set(event.sessionId, [...(bySession.get(event.sessionId) ?? []), event]);
  }
  const items: { sessionId: string; sequence: number; duplicate: boolean }[] = [];
  for (const [sessionId, sessionEvents] of bySession) {
    const result = await eventStore.appendToStream(
      sessionId,
      sessionEvents.map((e) => ({ type: e.type, data: e.data })),
    );
    // Emmett's stream versions count from 1, as the broker's sequences do.
    const last = Number(result.nextExpectedStreamVersion);
    sessionEvents.forEach((_, i) => items.push({ sessionId, sequence: last - sessionEvents.length + 1 + i, duplicate: false }));
  }
  answer(response, 201, { items });
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) request.destroy(new Error('body too large'));
      else chunks.push(chunk);
    });
    request.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.once('error', reject);
  });
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1');
const shutdown = () => {
  server.close();
  server.closeAllConnections();
  void eventStore.close().finally(() => pool.end().catch(() => undefined));
};
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
