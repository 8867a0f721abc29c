import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Kysely, PostgresDialect } from 'kysely';
import type pg from 'pg';
import { createPool, migrate, type Database } from '#ark/database';
import { EVENT_COLUMNS, EVENT_ROW, EVENT_SOURCES, EVENT_WRITTEN_COLUMNS, EventLogRepository, toArkEventJson, type NewArkEvent } from '#ark/event-store';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';

/** A select list split at its commas outside parentheses and brackets. */
function splitTopLevel(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of list) {
    if (c === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
      continue;
    }
    if (c === '(' || c === '[') depth++;
    if (c === ')' || c === ']') depth--;
    current += c;
  }
  return [...parts, current.trim()];
}

/** One event row codec (libs/event-store/src/event-row.ts) against what the migrations made of `events` and ark_append_events. */
describe('the event row', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let db: Kysely<Database>;
  let appendSource: string;

  before(async () => {
    database = await createTestDatabase();
    pool = createPool({ connectionString: database.url, max: 2 });
    await migrate(pool);
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    appendSource = (await pool.query<{ src: string }>(`SELECT prosrc AS src FROM pg_proc WHERE proname = 'ark_append_events'`)).rows[0]!.src;
  });
  after(async () => {
    await db.destroy();
    await database.drop();
  });

  it('names every column of `events`, in table order, and writes exactly those without a default', async () => {
    const { rows } = await pool.query<{ name: string; has_default: boolean }>(
      `SELECT column_name AS name, column_default IS NOT NULL OR is_identity = 'YES' AS has_default
       FROM information_schema.columns WHERE table_schema = 'public' AND table_name = 'events' ORDER BY ordinal_position`,
    );
    assert.deepEqual(
      rows.map((r) => r.name),
      EVENT_COLUMNS,
    );
    assert.deepEqual(
      rows.filter((r) => !r.has_default).map((r) => r.name),
      EVENT_WRITTEN_COLUMNS,
    );
  });

  it('allows the sources the CHECK on `events.source` allows', async () => {
    const { rows } = await pool.query<{ def: string }>(
      `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
       WHERE conrelid = 'events'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%source%'`,
    );
    assert.equal(rows.length, 1, 'one CHECK on source');
    const allowed = [...rows[0]!.def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]!);
    assert.deepEqual([...allowed].sort(), [...EVENT_SOURCES].sort());
  });

  it('builds the batch ark_append_events reads: its keys, and the columns it inserts', () => {
    const recordsets = [...appendSource.matchAll(/jsonb_to_recordset\(batch\) AS \w+\(([^)]*)\)/g)].map((m) =>
      m[1]!.split(',').map((c) => c.trim().split(/\s+/)[0]!),
    );
    assert.ok(recordsets.length > 0, 'the function reads its batch with jsonb_to_recordset');
    const batchKeys = ['i', ...EVENT_COLUMNS.map((c) => EVENT_ROW[c].batchKey).filter((k): k is NonNullable<typeof k> => k !== null)];
    const widest = recordsets.reduce((a, b) => (b.length > a.length ? b : a));
    assert.deepEqual([...widest].sort(), [...batchKeys].sort(), 'the insert reads every key of the codec, and no other');
    for (const keys of recordsets) for (const key of keys) assert.ok(batchKeys.includes(key), `ark_append_events reads ${key}, which the codec does not write`);
    const inserted = /INSERT INTO events \(([^)]*)\)/.exec(appendSource);
    assert.ok(inserted, 'the function inserts into events');
    assert.deepEqual(
      inserted[1]!.split(',').map((c) => c.trim()),
      EVENT_WRITTEN_COLUMNS,
    );
    // Each key is read into the column the codec says: the INSERT's select list, in column order.
    const select = /SELECT (x\.t, [^\n]*)\n/.exec(appendSource);
    assert.ok(select, 'the insert selects from the batch');
    // A batch key where the expression is the key itself (or its value with a default); `sequence` is the function's own.
    const readKeys = splitTopLevel(select[1]!).map((expr) => /^(?:coalesce\()?x\.(\w+)/.exec(expr)?.[1] ?? null);
    assert.deepEqual(
      readKeys,
      EVENT_WRITTEN_COLUMNS.map((c) => EVENT_ROW[c].batchKey),
    );
  });

  it('reads back every column of an appended event as appended', async () => {
    const event: NewArkEvent = {
      type: 'custom.codec',
      time: new Date('2024-05-06T07:08:09.123Z'),
      queryId: 'q-id',
      queryName: 'q-name',
      namespace: 'ns',
      userId: 'user',
      traceId: 'trace',
      spanId: 'span',
      parentSpanId: 'parent',
      source: 'operation-event',
      dedupeKey: 'dedupe',
      data: { nested: [1, 'two', null] },
    };
    const repository = new EventLogRepository(db);
    // As the tables' owner, whom row-level security does not bind.
    const { appended } = await db.transaction().execute((trx) => repository.append(trx, [{ tenantId: 'codec', sessionId: 'codec-session', event }]));
    assert.equal(appended.length, 1);
    const {
      events: [read],
    } = await repository.readSession({ tenantId: 'codec' }, 'codec-session', 0, 10);
    assert.deepEqual(read, appended[0]);
    for (const column of EVENT_COLUMNS) assert.notEqual(read![EVENT_ROW[column].field], null, `${column} came back`);
    assert.deepEqual(toArkEventJson(read!), {
      id: String(read!.globalPosition),
      tenantId: 'codec',
      sessionId: 'codec-session',
      sequence: 1,
      globalPosition: read!.globalPosition,
      type: 'custom.codec',
      time: '2024-05-06T07:08:09.123Z',
      recordedAt: read!.recordedAt.toISOString(),
      queryId: 'q-id',
      queryName: 'q-name',
      namespace: 'ns',
      userId: 'user',
      traceId: 'trace',
      spanId: 'span',
      parentSpanId: 'parent',
      source: 'operation-event',
      data: { nested: [1, 'two', null] },
    });
  });
});
