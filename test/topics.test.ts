import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { eventually } from './support/eventually.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const SECRET = 'topics-suite-secret-topics-suite-secret-0123';
const token = (sub: string, tenant: string, roles: string[]) =>
  new SignJWT({ sub, tenant, roles }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(SECRET));

describe('custom topics (/v2/streams/:name)', () => {
  let broker: TestBroker;
  const auth: Record<string, Record<string, string>> = {};

  before(async () => {
    broker = await startTestBroker({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: SECRET });
    const bearer = async (name: string, sub: string, tenant: string, roles: string[]) =>
      (auth[name] = { authorization: `Bearer ${await token(sub, tenant, roles)}` });
    await bearer('producerA', 'ingest', 'ta', ['producer']);
    await bearer('producerB', 'ingest', 'tb', ['producer']);
    await bearer('adminA', 'boss', 'ta', ['admin']);
    await bearer('adminB', 'boss', 'tb', ['admin']);
    await bearer('alice', 'alice', 'ta', ['reader']);
    await bearer('bob', 'bob', 'ta', ['reader']);
  });
  after(() => broker.close());

  const post = (name: string, body: unknown, who = 'producerA') => postJson(`${broker.url}/v2/streams/${name}`, body, auth[who]);
  const read = (name: string, query = '', who = 'adminA') => getJson(`${broker.url}/v2/streams/${name}${query}`, auth[who]);

  it('appends one event or an array as custom.<name>, honours dedupeKey, and pages the topic in feed order', async () => {
    const one = await post('deploys', { data: { n: 1 }, dedupeKey: 'd-1' });
    assert.equal(one.status, 201, JSON.stringify(one.body));
    assert.deepEqual(one.body.items, [{ sessionId: 'topic:deploys', sequence: 1, duplicate: false }]);
    const many = await post('deploys', [
      { data: { n: 2 }, sessionId: 's-deploy', userId: 'alice' },
      { data: { n: 1 }, dedupeKey: 'd-1' },
      { data: { n: 3 }, time: '2026-01-02T03:04:05.000Z' },
    ]);
    assert.equal(many.status, 201, JSON.stringify(many.body));
    assert.deepEqual(
      many.body.items.map((i: any) => [i.sessionId, i.sequence, i.duplicate]),
      [
        ['s-deploy', 1, false],
        ['topic:deploys', 1, true],
        ['topic:deploys', 2, false],
      ],
    );
    await post('other.topic', { data: { n: 'elsewhere' } });

    const page = await read('deploys', '?limit=2');
    assert.equal(page.status, 200);
    assert.deepEqual(
      page.body.items.map((e: any) => [e.type, e.data.n, e.sessionId, e.source]),
      [
        ['custom.deploys', 1, 'topic:deploys', 'api'],
        ['custom.deploys', 2, 's-deploy', 'api'],
      ],
    );
    assert.equal(page.body.hasMore, true);
    const rest = await read('deploys', `?after=${page.body.nextCursor}`);
    assert.deepEqual(
      rest.body.items.map((e: any) => [e.data.n, e.time]),
      [[3, '2026-01-02T03:04:05.000Z']],
    );
    assert.equal(rest.body.hasMore, false);
    assert.equal((await read('deploys', `?after=${rest.body.nextCursor}`)).body.items.length, 0);

    // An event naming a session is one of that session's events too.
    const session = await getJson(`${broker.url}/v2/sessions/s-deploy/events`, auth.adminA);
    assert.deepEqual(
      session.body.items.map((e: any) => [e.type, e.data.n]),
      [['custom.deploys', 2]],
    );
  });

  it('refuses bad names and bad events with 400, and readers may not write', async () => {
    for (const name of ['Deploys', '1st', 'a..b', 'a.', 'has space', 'custom/x', '_x']) {
      const res = await post(encodeURIComponent(name), { data: {} });
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error.message, /topic name/);
      assert.equal((await read(encodeURIComponent(name))).status, 400, name);
    }
    assert.equal((await post('ok', { data: {}, type: 'custom.other' })).status, 400, 'the type is the topic’s');
    assert.equal((await post('ok', {})).status, 400, 'data is required');
    assert.equal((await post('ok', [])).status, 400);
    assert.equal((await post('ok', { data: {} }, 'alice')).status, 403);
    assert.equal((await read('ok', '?after=nonsense')).status, 400);
    assert.equal((await post('x'.repeat(100), { data: {} })).status, 201, 'a 100-character name is valid');
    const tooLong = await post('x'.repeat(101), { data: {} });
    assert.equal(tooLong.status, 400, 'a longer one is refused');
    assert.match(tooLong.body.error.message, /topic name/);
  });

  it('streams a topic with ?watch=true and resumes from Last-Event-ID without a gap', async () => {
    const watch = new RecordingEventSource(`${broker.url}/v2/streams/builds?watch=true`, auth.adminA);
    await watch.opened;
    await sleep(100);
    for (let i = 1; i <= 3; i++) {
      assert.equal((await post('builds', { data: { i } })).status, 201);
      await post('not-builds', { data: { i } });
    }
    const got = await watch.waitFor(3);
    watch.close();
    assert.deepEqual(
      got.map((m) => [m.data.type, m.data.data.i]),
      [
        ['custom.builds', 1],
        ['custom.builds', 2],
        ['custom.builds', 3],
      ],
    );
    assert.match(got[0]!.id, /^\d+:\d+$/);
    await post('builds', { data: { i: 4 } });
    const resumed = new RecordingEventSource(`${broker.url}/v2/streams/builds?watch=true`, { ...auth.adminA, 'last-event-id': got[0]!.id });
    const again = await resumed.waitFor(3);
    resumed.close();
    assert.deepEqual(
      again.map((m) => m.data.data.i),
      [2, 3, 4],
    );
    const viaCursor = await getJson(`${broker.url}/v2/streams/builds?after=${encodeURIComponent(got[2]!.id)}`, auth.adminA);
    assert.deepEqual(
      viaCursor.body.items.map((e: any) => e.data.i),
      [4],
    );
  });

  it('keeps a topic inside its tenant, and a reader to the sessions they own', async () => {
    await post('secrets', [
      { sessionId: 's-alice', userId: 'alice', data: { who: 'alice' } },
      { sessionId: 's-bob', userId: 'bob', data: { who: 'bob' } },
      { data: { who: 'tenant' } },
    ]);
    await post('secrets', { data: { who: 'tenant-b' } }, 'producerB');
    const who = async (reader: string) => (await read('secrets', '', reader)).body.items.map((e: any) => e.data.who);
    assert.deepEqual(await who('adminA'), ['alice', 'bob', 'tenant']);
    assert.deepEqual(await who('adminB'), ['tenant-b']);
    assert.deepEqual(await who('alice'), ['alice']);
    assert.deepEqual(await who('bob'), ['bob']);

    const watch = new RecordingEventSource(`${broker.url}/v2/streams/secrets?watch=true&cursor=0:0`, auth.alice);
    await watch.waitFor(1);
    await post('secrets', [
      { sessionId: 's-bob', data: { who: 'bob-live' } },
      { sessionId: 's-alice', data: { who: 'alice-live' } },
    ]);
    const got = await watch.waitFor(2);
    await sleep(300);
    watch.close();
    assert.deepEqual(
      got.map((m) => m.data.data.who),
      ['alice', 'alice-live'],
    );
  });

  it('applies retention: a topic event is visible for its tenant’s event TTL', async () => {
    const put = await fetch(`${broker.url}/v2/retention`, {
      method: 'PUT',
      headers: { ...auth.adminB, 'content-type': 'application/json' },
      body: JSON.stringify({ eventTtlSeconds: 1 }),
    });
    assert.equal(put.status, 200, await put.text());
    assert.equal((await post('short-lived', { data: { n: 1 } }, 'producerB')).status, 201);
    assert.equal((await read('short-lived', '', 'adminB')).body.items.length, 1);
    await eventually(
      'the topic event expired',
      () => read('short-lived', '', 'adminB'),
      (r) => r.status === 200 && r.body.items.length === 0,
      5_000,
    );
  });
});
