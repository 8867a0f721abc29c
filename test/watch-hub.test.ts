/**
 * The watch hub's in-memory bookkeeping, with the log's reads answered by hand so that their timing
 * is exact. (Everything it reads from PostgreSQL is covered through the running broker in watch.test.ts.)
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { EventWatchHub, FEED_START, type ArkEvent, type EventLogRepository } from '#ark/event-store';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('event watch hub', () => {
  it('leaves no timer behind when the last watcher of a held feed leaves during a read', async () => {
    let answer: ((page: { events: ArkEvent[]; horizon: bigint }) => void) | undefined;
    let reads = 0;
    const log = {
      readFeed: () => {
        reads++;
        return new Promise((resolve) => (answer = resolve));
      },
    } as unknown as EventLogRepository;
    const hub = new EventWatchHub(log, { pollMs: 1_000 });
    const before = timers();

    const watch = hub.watchTenant({ tenantId: 't' }, FEED_START, { deliver: () => true });
    assert.equal(reads, 1);
    // A commit arrives while the read is under way, then the watcher leaves before it answers.
    hub.notify({ tx: '5' });
    watch.close();
    // The read answers held back at that very transaction (a commit the hub has been told of).
    answer!({ events: [], horizon: 5n });
    await sleep(30);

    assert.equal(timers(), before, 'no retry timer of the disposed group');
    assert.equal(reads, 1);
    hub.stop();
  });
});
