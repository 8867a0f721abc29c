/** `records.deleted` tombstones of the upstream DELETE routes (operation events, traces, sessions). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RECORDS_DELETED, type ArkEvent } from '#ark/event-store';
import { DELETABLE_COLLECTIONS, readRecordsDeleted, recordsDeletedEvent } from '#ark/normalizer';

const asStored = (event: Pick<ArkEvent, 'type' | 'data'>) => ({ ...event, source: 'api' }) as ArkEvent;

describe('deletion normalizer', () => {
  for (const collection of DELETABLE_COLLECTIONS) {
    it(`a whole-collection tombstone of ${collection} goes to the session of that name`, () => {
      const { sessionId, event } = recordsDeletedEvent({ collection }, 'admin');
      assert.equal(sessionId, collection);
      // ttlSeconds null: a tombstone never expires, so a rebuild finds it while what it hides is kept.
      assert.deepEqual(event, { type: RECORDS_DELETED, source: 'api', userId: 'admin', queryId: null, ttlSeconds: null, data: { collection } });
      assert.deepEqual(readRecordsDeleted(asStored(event)), { collection });
    });
  }

  it('a query-scoped tombstone names the query on the event and in its data', () => {
    const { sessionId, event } = recordsDeletedEvent({ collection: 'sessions', queryId: 'weather-report' }, 'admin');
    assert.equal(sessionId, 'sessions');
    assert.equal(event.queryId, 'weather-report');
    assert.deepEqual(readRecordsDeleted(asStored(event)), { collection: 'sessions', queryId: 'weather-report' });
  });

  it('reads nothing from other types or unknown collections', () => {
    assert.equal(readRecordsDeleted(asStored({ type: 'records.purged', data: { collection: 'traces' } })), undefined);
    assert.equal(readRecordsDeleted(asStored({ type: RECORDS_DELETED, data: { collection: 'messages' } })), undefined);
    assert.equal(readRecordsDeleted(asStored({ type: RECORDS_DELETED, data: {} })), undefined);
  });
});
