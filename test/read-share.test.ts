/**
 * Each tenant's share of the read path over HTTP: past READ_TENANT_MAX_CONCURRENT a tenant's reads
 * wait in its own queue and past READ_TENANT_MAX_QUEUED get 429 + Retry-After, while another tenant
 * reading beside it is never refused; a watch stream gives its turn back once it opens.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RecordingEventSource } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const as = (tenant: string) => ({ 'x-ark-tenant': tenant, 'x-ark-user': `${tenant}-user`, 'x-ark-roles': 'producer,admin' });

describe("each tenant's share of the read path", () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'header', AUTH_TRUSTED_PROXIES: '127.0.0.1', READ_TENANT_MAX_CONCURRENT: '1', READ_TENANT_MAX_QUEUED: '2' });
    // Pages of ~2 MB, so each read keeps its turn long enough for the others to queue behind it.
    for (let i = 0; i < 4; i++) {
      const answer = await postJson(`${broker.url}/v2/events`, { sessionId: 'big', type: 'custom.big', data: { i, pad: 'x'.repeat(2_000_000) } }, as('noisy'));
      assert.equal(answer.status, 201);
    }
    assert.equal((await postJson(`${broker.url}/v2/events`, { sessionId: 'small', type: 'custom.small', data: {} }, as('quiet'))).status, 201);
  });
  after(() => broker.close());

  it('refuses the tenant past its queue with 429 + Retry-After, and never the other one', async () => {
    const noisy = Array.from({ length: 12 }, () => getJson(`${broker.url}/v2/sessions/big/events?limit=10`, as('noisy')));
    const quiet = Array.from({ length: 3 }, () => getJson(`${broker.url}/v2/sessions/small/events`, as('quiet')));
    const [noisyAnswers, quietAnswers] = await Promise.all([Promise.all(noisy), Promise.all(quiet)]);

    assert.deepEqual(
      quietAnswers.map((a) => a.status),
      [200, 200, 200],
      'the other tenant is never refused',
    );
    const refused = noisyAnswers.filter((a) => a.status === 429);
    const served = noisyAnswers.filter((a) => a.status === 200);
    assert.equal(refused.length + served.length, noisyAnswers.length, `only 200 or 429: ${noisyAnswers.map((a) => a.status).join(',')}`);
    assert.ok(served.length >= 3, 'one read in progress and two queued are served');
    assert.ok(refused.length > 0, 'the rest is refused');
    assert.equal(refused[0]!.body.error.code, 'rate_limited');
    assert.match(refused[0]!.body.error.message, /reads of this tenant/);
    assert.equal(refused[0]!.headers.get('retry-after'), '1');
    // The byte budget (4 MiB) cuts the page before the fourth event; each comes back whole.
    assert.ok(served.every((a) => a.body.items.length === 3 && a.body.items.every((e: { data: { pad: string } }) => e.data.pad.length === 2_000_000)));
  });

  it("counts the reads waiting for their tenant's turn in /metrics (ark_broker_read_share_waiting)", async () => {
    const waiting = async () => {
      const body = await (await fetch(`${broker.url}/metrics`)).text();
      const line = body.split('\n').find((l) => l.startsWith('ark_broker_read_share_waiting '));
      assert.ok(line, 'the gauge is exported');
      return Number(line.split(' ')[1]);
    };
    assert.equal(await waiting(), 0, 'nothing waits before the reads');
    // Three readers of ~6 MB pages, one at a time through a turn of 1: two of them wait.
    let reading = true;
    const readers = Array.from({ length: 3 }, async () => {
      while (reading) await getJson(`${broker.url}/v2/sessions/big/events?limit=10`, as('noisy'));
    });
    let seen = 0;
    const deadline = Date.now() + 5_000;
    while (seen === 0 && Date.now() < deadline) seen = Math.max(seen, await waiting());
    reading = false;
    await Promise.all(readers);
    assert.ok(seen >= 1, `a waiting read was counted (most seen: ${seen})`);
    assert.equal(await waiting(), 0, 'none once the reads are done');
  });

  it('gives the turn back when a watch opens, so reads go on beside open watches', async () => {
    const watches = Array.from({ length: 4 }, () => new RecordingEventSource(`${broker.url}/v2/sessions/small/events?watch=true`, as('quiet')));
    try {
      await Promise.all(watches.map((w) => w.opened));
      const answer = await getJson(`${broker.url}/v2/sessions/small/events`, as('quiet'));
      assert.equal(answer.status, 200, 'four open watches hold no read turn');
    } finally {
      for (const w of watches) w.close();
    }
  });
});
