/**
 * The fair queue in front of the group-commit writer, with a stand-in writer whose commits the test
 * releases by hand: round robin across tenants, the per-tenant bound, and nothing held after errors.
 */
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { WriteShareExceededError } from '#ark/errors';
import { TenantWriteShare } from '#ark/event-store';

/** A writer whose calls commit only when the test says so, in the order they reached it. */
function heldWriter() {
  const reached: string[] = [];
  const pending: (() => void)[] = [];
  return {
    reached,
    write: (label: string) => () =>
      new Promise<string>((resolve) => {
        reached.push(label);
        pending.push(() => resolve(label));
      }),
    commitOne: async () => {
      pending.shift()?.();
      await nextTurn();
    },
  };
}

describe('tenant write share', () => {
  it("lets a quiet tenant's call into the writer before a flooding tenant's backlog", async () => {
    const share = new TenantWriteShare({ windowEvents: 1_000, tenantMaxEvents: 10_000 });
    const writer = heldWriter();
    const flood = Array.from({ length: 6 }, (_, i) => share.run('noisy', 500, writer.write(`noisy-${i}`)));
    await nextTurn();
    assert.deepEqual(writer.reached, ['noisy-0', 'noisy-1'], 'the window holds two calls of 500');
    const quiet = share.run('quiet', 10, writer.write('quiet'));
    await writer.commitOne();
    await writer.commitOne();
    assert.equal(writer.reached[2], 'quiet', `the quiet call is next: ${writer.reached.join(' ')}`);
    for (let i = 0; i < 8; i++) await writer.commitOne();
    assert.equal(await quiet, 'quiet');
    assert.deepEqual(await Promise.all(flood), ['noisy-0', 'noisy-1', 'noisy-2', 'noisy-3', 'noisy-4', 'noisy-5']);
    assert.equal(share.outstanding('noisy'), 0);
  });

  it('refuses a tenant past its bound with a retry hint, and not another tenant', async () => {
    const share = new TenantWriteShare({ windowEvents: 100, tenantMaxEvents: 300 });
    const writer = heldWriter();
    const held = [share.run('noisy', 200, writer.write('a')), share.run('noisy', 100, writer.write('b'))];
    await assert.rejects(share.run('noisy', 1, writer.write('c')), (error: unknown) => {
      assert.ok(error instanceof WriteShareExceededError);
      assert.equal(error.retryAfterSeconds, 1);
      return true;
    });
    const other = share.run('quiet', 300, writer.write('quiet'));
    for (let i = 0; i < 3; i++) await writer.commitOne();
    await Promise.all([...held, other]);
    assert.equal(share.outstanding('noisy'), 0);
  });

  it('lets a call larger than the window in alone, and frees its share when the write fails', async () => {
    const share = new TenantWriteShare({ windowEvents: 10, tenantMaxEvents: 1_000 });
    await assert.rejects(
      share.run('t', 500, () => Promise.reject(new Error('refused by the database'))),
      /refused by the database/,
    );
    assert.equal(share.outstanding('t'), 0);
    assert.equal(await share.run('t', 500, () => Promise.resolve('ok')), 'ok');
  });
});
