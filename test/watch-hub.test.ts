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

  it("hands a session's events committed by this process to the watchers right before them, without a read", async () => {
    const event = (sequence: number) => ({ tenantId: 't', sessionId: 's', sequence, type: 'x' }) as ArkEvent;
    const answers: ((page: { events: ArkEvent[]; cut: boolean }) => void)[] = [];
    const log = { readSession: () => new Promise((resolve) => answers.push(resolve)) } as unknown as EventLogRepository;
    const hub = new EventWatchHub(log, { pollMs: 60_000 });
    const got: number[] = [];
    hub.watchSession('t', 's', 0, { deliver: (e) => got.push(e.sequence) > 0 });
    assert.equal(answers.length, 1, 'the watcher starts with a read');
    // Committed while that read is under way: left to it (it reads again).
    hub.offer([event(1)]);
    answers.shift()!({ events: [event(1)], cut: false });
    await sleep(5);
    answers.shift()!({ events: [], cut: false });
    await sleep(5);
    assert.deepEqual(got, [1]);

    hub.offer([event(2), event(3), { ...event(1), sessionId: 'other' }]);
    assert.deepEqual(got, [1, 2, 3], 'delivered at once');
    hub.notify({ tx: '9', s: [['t', 's', 3]] });
    await sleep(5);
    assert.equal(answers.length, 0, 'their NOTIFY finds the watcher up to date: no read');

    // A gap (4 was committed elsewhere): 5 is not handed over; a read fetches both, in order.
    hub.offer([event(5)]);
    assert.deepEqual(got, [1, 2, 3]);
    assert.equal(answers.length, 1);
    answers.shift()!({ events: [event(4), event(5)], cut: false });
    await sleep(5);
    answers.shift()?.({ events: [], cut: false });
    assert.deepEqual(got, [1, 2, 3, 4, 5]);
    hub.stop();
  });
});
