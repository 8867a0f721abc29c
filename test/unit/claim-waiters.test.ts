/** Executors' long polls on one replica (apps/broker/src/executions/claim-waiters.ts), without HTTP. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NotificationChannels } from '#ark/event-store';
import { ClaimWaiters } from '../../apps/broker/src/executions/claim-waiters.js';

function waitersWithChannel() {
  let deliver: (payload: string) => void = () => undefined;
  const channels = {
    listen: (_channel: string, subscriber: { onNotification(payload: string): void }) => (deliver = (p) => subscriber.onNotification(p)),
  } as unknown as NotificationChannels;
  const waiters = new ClaimWaiters(channels);
  waiters.onModuleInit();
  return { waiters, deliver: (wakeUp: object) => deliver(JSON.stringify(wakeUp)) };
}

const woken = async (wait: { woken: Promise<void> }) => {
  let done = false;
  void wait.woken.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('claim waiters', () => {
  it("wakes this replica's waiters for its own submit once, not again for the NOTIFY that names it", async () => {
    const { waiters, deliver } = waitersWithChannel();
    const first = waiters.register('t1', ['ns']);
    const second = waiters.register('t1', ['ns']);
    waiters.wake('t1', ['ns'], 1);
    assert.deepEqual([await woken(first), await woken(second)], [true, false], 'one query: the longest waiting executor only');
    deliver({ t: 't1', c: 1, n: ['ns'], o: waiters.origin });
    assert.equal(await woken(second), false, "the submit's own NOTIFY wakes no one else for the same query");
    deliver({ t: 't1', c: 1, n: ['ns'], o: 'another-replica' });
    assert.equal(await woken(second), true, "another replica's submit wakes it");
  });

  it('wakes only waiters of the tenant that serve one of the namespaces (a NOTIFY without namespaces: any)', async () => {
    const { waiters, deliver } = waitersWithChannel();
    const otherTenant = waiters.register('t2', ['ns']);
    const otherNamespace = waiters.register('t1', ['elsewhere']);
    const everyNamespace = waiters.register('t1', null);
    waiters.wake('t1', ['ns'], 5);
    assert.deepEqual([await woken(otherTenant), await woken(otherNamespace), await woken(everyNamespace)], [false, false, true]);
    deliver({ t: 't1', c: 1 });
    assert.equal(await woken(otherNamespace), true);
    assert.equal(await woken(otherTenant), false);
  });
});
