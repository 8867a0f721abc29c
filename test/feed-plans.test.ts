/**
 * A query's feed read (GET /stream/:query, /v2/queries/:id/completion and their watches) on a tenant
 * whose feed is mostly other queries' chunks, as when many LLM answers stream at once. Narrowed by one
 * condition over the query's ids (`query_id = ANY(…) OR (chunk AND query_name = ANY(…))`), the read
 * walked the tenant's feed past the reader's cursor through `events_tenant_feed` and filtered it: every
 * reader of every query read every chunk (46 ms a read, 200 streams at 5,000 chunks/s on this machine).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EventLogRepository, FEED_START } from '#ark/event-store';
import { openPlanLoggingDatabase, type PlanLoggingDatabase } from './support/plan-logging-database.js';

const TENANT = 'feeds';

for (const [name, settings] of [
  ['planned for its values', []],
  // Prepared, the read gets a generic plan after five calls; one made on this never-analyzed log
  // must probe the same indexes.
  ['generic plan', ['plan_cache_mode = force_generic_plan']],
] as const)
  describe(`a query's feed read among other queries' chunks (${name})`, () => {
    let logged: PlanLoggingDatabase;

    before(async () => {
      logged = await openPlanLoggingDatabase('events', settings);
      // 200 streams of 100 chunks, uploaded under their query names (Ark names no UID on its chunks),
      // and one query's operation events filed under its UID. No statistics: autovacuum is off for it.
      await logged.owner.query(
        `INSERT INTO events (tenant_id, session_id, sequence, type, time, query_name, source, data, expires_at)
       SELECT $1, 'session-' || (n % 200), n / 200 + 1, 'llm.chunk', now(), 'query-' || (n % 200), 'chunk', jsonb_build_object('index', n / 200), 'infinity'
         FROM generate_series(0, 19999) n`,
        [TENANT],
      );
      await logged.owner.query(
        `INSERT INTO events (tenant_id, session_id, sequence, type, time, query_id, query_name, source, data, expires_at)
       SELECT $1, 'session-7', 1000 + n, 'tool.call.started', now(), 'uid-7', 'query-7', 'operation-event', '{}'::jsonb, 'infinity'
         FROM generate_series(1, 3) n`,
        [TENANT],
      );
    });
    after(() => logged?.close());

    it('reads its own chunks and events by their indexes, in feed order', async () => {
      const log = new EventLogRepository(logged.connection.db);
      logged.plans.length = 0;
      const { events } = await log.readFeed({ tenantId: TENANT }, FEED_START, 1000, { queryIds: ['uid-7', 'query-7'] });
      assert.equal(events.length, 103, "the query's 100 chunks and its 3 events, nothing of the others");
      assert.ok(
        events.every((e) => e.queryName === 'query-7'),
        'only its own',
      );
      const positions = events.map((e) => e.globalPosition);
      assert.deepEqual(
        positions,
        [...positions].sort((a, b) => a - b),
        "in feed order (the chunks' transaction, then the events': by position here)",
      );
      const plan = logged.plans.find((p) => p.includes('ark_feed_horizon()'));
      assert.ok(plan, `the read's plan was reported: ${logged.plans.join('\n---\n')}`);
      assert.match(plan, /events_chunk_feed/, plan);
      assert.match(plan, /events_query/, plan);
      assert.doesNotMatch(plan, /events_tenant_feed|Seq Scan on events/, plan);
    });
  });
