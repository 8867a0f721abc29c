/**
 * The sessions, session_queries, traces, deletions and messages projectors, fed through the
 * group-commit writer with the broker's inline projectors (real PostgreSQL, no broker process).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NewArkEvent, StreamEvent } from '#ark/event-store';
import {
  fallbackSessionId,
  MEMORY_SESSION_ID,
  messagesDeletedEvent,
  normalizeMessages,
  normalizeOperationEvent,
  normalizeSpan,
  recordsDeletedEvent,
  type OperationEvent,
} from '#ark/normalizer';
import { operationEvent, otlpSpan } from '../support/ark-payloads.js';
import { openEventStoreDatabase, type EventStoreDatabase } from '../support/event-store-database.js';

const TENANT = 'tenant-sessions';

describe('session projections (sessions, session_queries, traces, deletions, messages)', () => {
  let store: EventStoreDatabase;
  before(async () => {
    store = await openEventStoreDatabase();
  });
  after(() => store.close());

  const append = (items: { sessionId: string; event: NewArkEvent }[], tenantId = TENANT) =>
    store.writer.append(items.map((i): StreamEvent => ({ tenantId, sessionId: i.sessionId, event: i.event })));
  const operationEvents = (...bodies: OperationEvent[]) => append(bodies.map(normalizeOperationEvent));
  const query = async <T>(text: string, values: unknown[] = []) => (await store.sql.query(text, values)).rows as T[];

  it('sessions: first and last producer time, event count, last sequence and the first user named', async () => {
    const at = (iso: string, userId: string | null, n: number) => ({
      sessionId: 'sess-activity',
      event: { type: 'custom.step', source: 'api', time: new Date(iso), userId, data: { n } } as NewArkEvent,
    });
    await append([at('2024-06-10T10:00:05Z', null, 1), at('2024-06-10T10:00:01Z', null, 2)]);
    await append([at('2024-06-10T10:00:09Z', 'alice', 3)]);
    await append([at('2024-06-10T10:00:00Z', 'bob', 4), at('2024-06-10T10:00:07Z', null, 5)]);
    const [session] = await query<Record<string, any>>("SELECT * FROM sessions WHERE tenant_id = $1 AND session_id = 'sess-activity'", [TENANT]);
    assert.equal(session!.first_activity_at.toISOString(), '2024-06-10T10:00:00.000Z');
    assert.equal(session!.last_activity_at.toISOString(), '2024-06-10T10:00:09.000Z');
    assert.equal(session!.event_count, 5);
    assert.equal(session!.last_sequence, 5);
    assert.equal(session!.user_id, 'alice');
    assert.equal(session!.status, 'idle', 'no queries: idle');
  });

  it('session_queries: each query of a session with upstream’s phase rules, and the session’s summary', async () => {
    const session = 'sess-queries';
    const ids = (queryName: string) => ({ sessionId: session, queryId: `uid-${queryName}`, queryName, queryNamespace: 'default' });
    const summary = async () =>
      (
        await query<Record<string, unknown>>(
          'SELECT query_count, error_count, conversation_count, status FROM sessions WHERE tenant_id = $1 AND session_id = $2',
          [TENANT, session],
        )
      )[0];
    const phases = async () =>
      Object.fromEntries(
        (
          await query<{ query_name: string; phase: string }>(
            'SELECT query_name, phase FROM session_queries WHERE tenant_id = $1 AND session_id = $2 ORDER BY query_name',
            [TENANT, session],
          )
        ).map((r) => [r.query_name, r.phase]),
      );

    await operationEvents(
      operationEvent('QueryExecutionStart', { ...ids('forecast'), targetType: 'team', team: 'research' }, '2024-06-10T11:00:00Z'),
      operationEvent('QueryExecutionStart', { ...ids('summary'), agent: 'writer' }, '2024-06-10T11:00:01Z'),
    );
    assert.deepEqual(await phases(), { forecast: 'running', summary: 'running' });
    assert.deepEqual(await summary(), { query_count: 2, error_count: 0, conversation_count: 0, status: 'active' });

    await operationEvents(operationEvent('QueryExecutionComplete', ids('forecast'), '2024-06-10T11:00:05Z'));
    assert.equal((await summary())!.status, 'active', 'summary still runs');
    await operationEvents(operationEvent('QueryExecutionError', { ...ids('summary'), error: 'model overloaded' }, '2024-06-10T11:00:06Z'));
    assert.deepEqual(await phases(), { forecast: 'done', summary: 'error' });
    assert.deepEqual(await summary(), { query_count: 2, error_count: 1, conversation_count: 0, status: 'error' });

    // A memory message of a query the session has links its conversation, but is not query activity:
    // the newer failure still decides the status (upstream 0.1.69, ark PR #3004).
    const [message] = normalizeMessages({ conversationId: 'conv-forecast', queryId: 'forecast', messages: [{ role: 'user', content: 'and tomorrow?' }] }, {});
    await append([{ sessionId: session, event: message! }]);
    assert.deepEqual(await summary(), { query_count: 2, error_count: 1, conversation_count: 1, status: 'error' });
    const [forecast] = await query<Record<string, any>>("SELECT * FROM session_queries WHERE tenant_id = $1 AND session_id = $2 AND query_name = 'forecast'", [
      TENANT,
      session,
    ]);
    assert.equal(forecast!.query_id, 'uid-forecast');
    assert.equal(forecast!.namespace, 'default');
    assert.equal(forecast!.target_type, 'team');
    assert.equal(forecast!.team, 'research');
    assert.equal(forecast!.conversation_id, 'conv-forecast');
    assert.equal(forecast!.first_sequence, 1);
    assert.equal(forecast!.last_sequence, 3, 'its completion was its last activity; the message (5) is not');
    assert.equal(forecast!.phase_sequence, 3);
    assert.ok(forecast!.completed_at instanceof Date);

    // DELETE /sessions/queries/:id: the query is gone from every session, the summary recomputed.
    const deletion = recordsDeletedEvent({ collection: 'sessions', queryId: 'summary' }, 'admin');
    await append([deletion]);
    assert.deepEqual(await phases(), { forecast: 'done' });
    assert.deepEqual(await summary(), { query_count: 1, error_count: 0, conversation_count: 1, status: 'idle' });
  });

  it('session_queries: an operation event without a session id or query name is dropped, as upstream does', async () => {
    await operationEvents(
      operationEvent('QueryExecutionStart', { queryId: 'uid-nosession', queryName: 'nosession' }, '2024-06-10T12:00:00Z'),
      operationEvent('QueryExecutionStart', { queryId: 'uid-noname', sessionId: 'sess-noname' }, '2024-06-10T12:00:00Z'),
    );
    const rows = await query("SELECT 1 FROM session_queries WHERE session_id IN ('uid-nosession', 'sess-noname')");
    assert.equal(rows.length, 0);
    const sessions = await query<{ session_id: string; status: string }>(
      "SELECT session_id, status FROM sessions WHERE session_id IN ('uid-nosession', 'sess-noname') ORDER BY session_id",
    );
    assert.deepEqual(sessions, [
      { session_id: 'sess-noname', status: 'idle' },
      { session_id: 'uid-nosession', status: 'idle' },
    ]);
  });

  it('traces: the first position of each trace; a traces tombstone drops what it covers, and a later span starts its trace again', async () => {
    const traceA = 'aaaa0000aaaa0000aaaa0000aaaa0001';
    const traceB = 'bbbb0000bbbb0000bbbb0000bbbb0001';
    const spanEvent = (traceId: string, spanId: string) => {
      const { event } = normalizeSpan(otlpSpan({ traceId, spanId, attributes: { 'ark.session.id': 'sess-traces' } }));
      return { sessionId: 'sess-traces', event };
    };
    const positions = async () =>
      Object.fromEntries(
        (await query<{ trace_id: string; first_position: number }>('SELECT trace_id, first_position FROM traces WHERE tenant_id = $1', [TENANT])).map((r) => [
          r.trace_id,
          r.first_position,
        ]),
      );
    const positionOf = async (spanId: string) =>
      (await query<{ global_position: number }>('SELECT global_position FROM events WHERE tenant_id = $1 AND span_id = $2', [TENANT, spanId]))[0]!
        .global_position;

    await append([spanEvent(traceA, '00000000000000a1'), spanEvent(traceA, '00000000000000a2')]);
    await append([spanEvent(traceB, '00000000000000b1'), spanEvent(traceA, '00000000000000a3'), spanEvent(traceA, '00000000000000a1')]);
    assert.deepEqual(await positions(), { [traceA]: await positionOf('00000000000000a1'), [traceB]: await positionOf('00000000000000b1') });

    // One batch: the tombstone, then a span of trace B (a span before it in the batch would be covered).
    await append([spanEvent(traceA, '00000000000000a4'), recordsDeletedEvent({ collection: 'traces' }, 'admin'), spanEvent(traceB, '00000000000000b2')]);
    assert.deepEqual(await positions(), { [traceB]: await positionOf('00000000000000b2') });
    const deletions = await query<{ scope: string; query_id: string | null; up_to_position: number }>(
      "SELECT scope, query_id, up_to_position FROM deletions WHERE tenant_id = $1 AND scope = 'traces'",
      [TENANT],
    );
    const [tombstone] = await query<{ global_position: number }>(
      "SELECT global_position FROM events WHERE tenant_id = $1 AND type = 'records.deleted' AND data->>'collection' = 'traces'",
      [TENANT],
    );
    assert.deepEqual(deletions, [{ scope: 'traces', query_id: null, up_to_position: tombstone!.global_position }]);
  });

  it('messages: one row per posted message, a retried POST once, expiry from ttl_seconds', async () => {
    const posted = {
      conversationId: 'conv-memory',
      queryId: 'weather-report',
      messages: [
        { role: 'user', content: 'Is it sunny?' },
        { role: 'assistant', content: 'Yes, 24°C.' },
      ],
      ttlSeconds: 600,
    };
    const events = normalizeMessages(posted, { userId: 'alice', queryName: 'weather-report' });
    const sessionId = fallbackSessionId(posted);
    await append(events.map((event) => ({ sessionId, event })));
    const retry = await append(events.map((event) => ({ sessionId, event })));
    assert.deepEqual(
      retry.map((r) => r.duplicate),
      [true, true],
    );
    const rows = await query<Record<string, any>>("SELECT * FROM messages WHERE tenant_id = $1 AND conversation_id = 'conv-memory' ORDER BY global_position", [
      TENANT,
    ]);
    assert.deepEqual(
      rows.map((r) => r.message),
      posted.messages,
    );
    for (const r of rows) {
      assert.equal(r.session_id, 'conv-memory');
      assert.equal(r.query_id, 'weather-report');
      assert.equal(r.user_id, 'alice');
      assert.equal(r.expires_at.getTime() - r.recorded_at.getTime(), 600_000);
    }
  });

  it('messages: a tombstone deletes the matching messages before it, even in its own batch, and spares the rest', async () => {
    const message = (conversationId: string, content: string) => {
      const [event] = normalizeMessages({ conversationId, queryId: '', messages: [{ role: 'user', content }] }, {});
      return { sessionId: conversationId, event: event! };
    };
    await append([message('conv-x', 'old x'), message('conv-y', 'old y')]);
    await append([
      message('conv-x', 'x before the tombstone'),
      { sessionId: MEMORY_SESSION_ID, event: messagesDeletedEvent({ conversationId: 'conv-x' }, 'admin') },
      message('conv-x', 'x after the tombstone'),
    ]);
    const rows = await query<{ conversation_id: string; content: string }>(
      "SELECT conversation_id, message->>'content' AS content FROM messages WHERE tenant_id = $1 AND conversation_id IN ('conv-x', 'conv-y') ORDER BY global_position",
      [TENANT],
    );
    assert.deepEqual(rows, [
      { conversation_id: 'conv-y', content: 'old y' },
      { conversation_id: 'conv-x', content: 'x after the tombstone' },
    ]);
    const tombstones = await query('SELECT conversation_id, query_id FROM message_tombstones WHERE tenant_id = $1', [TENANT]);
    assert.deepEqual(tombstones, [{ conversation_id: 'conv-x', query_id: null }]);
  });

  it('keeps tenants apart: the same session id in two tenants is two sessions', async () => {
    const event: NewArkEvent = { type: 'custom.step', source: 'api', time: new Date('2024-06-10T13:00:00Z'), data: {} };
    await append([{ sessionId: 'sess-shared', event }], 'tenant-one');
    await append([{ sessionId: 'sess-shared', event }], 'tenant-two');
    await append([{ sessionId: 'sess-shared', event }], 'tenant-two');
    const rows = await query<{ tenant_id: string; event_count: number }>(
      "SELECT tenant_id, event_count FROM sessions WHERE session_id = 'sess-shared' ORDER BY tenant_id",
    );
    assert.deepEqual(rows, [
      { tenant_id: 'tenant-one', event_count: 1 },
      { tenant_id: 'tenant-two', event_count: 2 },
    ]);
  });
});
