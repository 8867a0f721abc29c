/** Each tenant's share of the read path (apps/broker/src/tenant-read-share.ts), without HTTP. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TenantReadShare } from '../../apps/broker/src/tenant-read-share.js';

const settled = async <T>(p: Promise<T>) => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('tenant read share', () => {
  it("queues a tenant's reads past its limit, never another tenant's", async () => {
    const share = new TenantReadShare({ maxConcurrent: 2, maxQueued: 1 });
    const a1 = share.enter('a');
    const a2 = share.enter('a');
    assert.ok(a1 !== 'full' && a2 !== 'full');
    const a3 = share.enter('a');
    assert.ok(a3 !== 'full');
    assert.equal(await settled(a3), false, 'the third read of a waits');
    assert.equal(share.enter('a'), 'full', 'past its queue, a is refused');
    const b1 = share.enter('b');
    assert.ok(b1 !== 'full');
    assert.equal(await settled(b1), true, 'b does not wait behind a');
    assert.deepEqual(share.load('a'), { running: 2, waiting: 1 });

    const leaveA1 = await a1;
    leaveA1();
    leaveA1();
    assert.equal(await settled(a3), true, "a's turn passes to its waiting read");
    assert.deepEqual(share.load('a'), { running: 2, waiting: 0 }, 'leaving twice counts once');
    (await a2)();
    (await a3)();
    (await b1)();
    assert.deepEqual(share.load('a'), { running: 0, waiting: 0 });
    assert.deepEqual(share.load('b'), { running: 0, waiting: 0 });
  });

  it('lets a tenant that just read something large read one at a time, and no other tenant', async () => {
    const share = new TenantReadShare({ maxConcurrent: 3, maxQueued: 10 });
    share.markHeavy('a');
    const a1 = share.enter('a');
    const a2 = share.enter('a');
    assert.ok(a1 !== 'full' && a2 !== 'full');
    assert.equal(await settled(a1), true);
    assert.equal(await settled(a2), false, "a's second read waits for its first");
    const b = Array.from({ length: 3 }, () => share.enter('b'));
    for (const turn of b) assert.equal(await settled(turn as Promise<() => void>), true, 'b reads three at once');
    (await a1)();
    assert.equal(await settled(a2), true);
    assert.deepEqual(share.load('a'), { running: 1, waiting: 0 });
  });

  it('does not limit with maxConcurrent 0', async () => {
    const share = new TenantReadShare({ maxConcurrent: 0, maxQueued: 0 });
    const turns = Array.from({ length: 100 }, () => share.enter('a'));
    assert.ok(turns.every((t) => t !== 'full'));
    for (const turn of turns) assert.equal(await settled(turn as Promise<() => void>), true);
  });
});
