/**
 * The memory API's events: `POST /messages` bodies as Ark's memory client sends them → `message.added`,
 * memory DELETEs → `messages.deleted`, and the readers the messages projector uses.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ArkEvent } from '#ark/event-store';
import {
  deletionScopeMatches,
  fallbackSessionId,
  MEMORY_SESSION_ID,
  messagesDeletedEvent,
  normalizeMessages,
  readMessageAdded,
  readMessagesDeleted,
  type PostedMessages,
} from '#ark/normalizer';

const posted: PostedMessages = {
  conversationId: '0b6f2c1e-8d1a-4c57-9e0f-4f1d2a7c9b10',
  queryId: 'weather-report',
  messages: [
    { role: 'user', content: 'Will it rain in Paris tomorrow?' },
    { role: 'assistant', content: 'Light rain is expected in the afternoon.' },
  ],
  ttlSeconds: 3600,
};

const correlation = { queryId: 'uid-77', queryName: 'weather-report', namespace: 'default', userId: 'alice' };

describe('message normalizer: message.added', () => {
  it('makes one event per message, in order, with the correlation of the query', () => {
    const events = normalizeMessages(posted, correlation);
    assert.equal(events.length, 2);
    events.forEach((event, index) => {
      assert.equal(event.type, 'message.added');
      assert.equal(event.source, 'message');
      assert.deepEqual([event.queryId, event.queryName, event.namespace, event.userId], ['uid-77', 'weather-report', 'default', 'alice']);
      assert.deepEqual(event.data, {
        conversationId: posted.conversationId,
        queryId: 'weather-report',
        message: posted.messages[index],
        index,
        ttlSeconds: 3600,
      });
      assert.match(event.dedupeKey!, new RegExp(`^message:[0-9a-f]{64}:${index}$`));
    });
  });

  it('leaves ttlSeconds out when none was posted', () => {
    const [event] = normalizeMessages({ ...posted, ttlSeconds: undefined }, {});
    assert.equal('ttlSeconds' in (event!.data as object), false);
  });

  it('gives a retried request the same keys, and another request (conversation, query, messages) other keys', () => {
    const keys = (p: PostedMessages) => normalizeMessages(p, correlation).map((e) => e.dedupeKey);
    const first = keys(posted);
    assert.deepEqual(keys({ ...posted, messages: posted.messages.map((m) => ({ ...(m as object) })) }), first);
    // The correlation and the TTL are not part of the request's identity.
    assert.deepEqual(
      normalizeMessages({ ...posted, ttlSeconds: 60 }, {}).map((e) => e.dedupeKey),
      first,
    );
    for (const other of [
      { ...posted, conversationId: 'another-conversation' },
      { ...posted, queryId: 'another-query' },
      { ...posted, messages: [posted.messages[0]] },
      { ...posted, messages: [...posted.messages].reverse() },
    ]) {
      assert.notEqual(keys(other)[0], first[0]);
    }
  });

  it('gives messages without a query no key: "yes" posted twice is two messages', () => {
    const events = normalizeMessages({ conversationId: 'c', queryId: '', messages: [{ role: 'user', content: 'yes' }] }, {});
    assert.equal(events[0]!.dedupeKey, null);
  });

  const fallbacks: [conversationId: string, queryId: string, session: string][] = [
    ['conv-1', 'weather-report', 'conv-1'],
    ['', 'weather-report', 'weather-report'],
    ['', '', MEMORY_SESSION_ID],
  ];
  for (const [conversationId, queryId, session] of fallbacks) {
    it(`puts messages of conversation "${conversationId}" / query "${queryId}" without a known session in "${session}"`, () => {
      assert.equal(fallbackSessionId({ conversationId, queryId }), session);
    });
  }
});

describe('message normalizer: readers', () => {
  const stored = (event: Partial<ArkEvent>) => ({ type: 'message.added', source: 'message' as const, data: {}, ...event });

  it('reads back what normalizeMessages wrote', () => {
    const [event] = normalizeMessages(posted, correlation);
    assert.deepEqual(readMessageAdded(stored(event!)), event!.data);
  });

  it('reads only message.added of the memory API, with a well-formed body', () => {
    const data = { conversationId: 'c', queryId: 'q', message: { role: 'user' }, index: 0 };
    assert.deepEqual(readMessageAdded(stored({ data })), data);
    assert.equal(readMessageAdded(stored({ data, source: 'api' })), undefined);
    assert.equal(readMessageAdded(stored({ data, type: 'custom.message' })), undefined);
    assert.equal(readMessageAdded(stored({ data: { ...data, index: '0' } })), undefined);
    assert.equal(readMessageAdded(stored({ data: { ...data, conversationId: 7 } })), undefined);
    assert.equal(readMessageAdded(stored({ data: [data] })), undefined);
    assert.deepEqual(readMessageAdded(stored({ data: { ...data, ttlSeconds: '60' } })), data);
  });

  it('writes and reads deletion tombstones of a conversation, a query, both or everything', () => {
    for (const scope of [{ conversationId: 'c' }, { queryId: 'q' }, { conversationId: 'c', queryId: 'q' }, {}]) {
      const event = messagesDeletedEvent(scope, 'admin');
      assert.deepEqual(event, { type: 'messages.deleted', source: 'message', userId: 'admin', ttlSeconds: null, data: scope });
      assert.deepEqual(readMessagesDeleted({ ...event, data: event.data }), scope);
    }
    assert.deepEqual(messagesDeletedEvent({ conversationId: undefined, queryId: 'q' }, 'u').data, { queryId: 'q' });
  });

  it('refuses a tombstone whose fields are not strings rather than widen it to everything', () => {
    const tombstone = (data: unknown) => ({ type: 'messages.deleted', source: 'message' as const, data });
    assert.equal(readMessagesDeleted(tombstone({ conversationId: 5 })), undefined);
    assert.equal(readMessagesDeleted(tombstone({ queryId: null })), undefined);
    assert.equal(readMessagesDeleted(tombstone('all')), undefined);
    assert.equal(readMessagesDeleted({ ...tombstone({}), source: 'api' }), undefined);
  });

  const scopes: [scope: { conversationId?: string; queryId?: string }, matches: boolean][] = [
    [{}, true],
    [{ conversationId: 'c1' }, true],
    [{ conversationId: 'c2' }, false],
    [{ queryId: 'q1' }, true],
    [{ conversationId: 'c1', queryId: 'q2' }, false],
    [{ conversationId: 'c1', queryId: 'q1' }, true],
  ];
  for (const [scope, matches] of scopes) {
    it(`a tombstone of ${JSON.stringify(scope)} ${matches ? 'covers' : 'spares'} message c1/q1`, () => {
      assert.equal(deletionScopeMatches(scope, { conversationId: 'c1', queryId: 'q1' }), matches);
    });
  }

  it("gives each event the request's ttl_seconds, or none (the appender's default applies)", () => {
    assert.deepEqual(
      normalizeMessages({ ...posted, ttlSeconds: 90 }, {}).map((e) => e.ttlSeconds),
      posted.messages.map(() => 90),
    );
    assert.ok(normalizeMessages({ ...posted, ttlSeconds: undefined }, {}).every((e) => !('ttlSeconds' in e)));
  });
});
