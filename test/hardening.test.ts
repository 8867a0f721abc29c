import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

describe('HTTP hardening', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ CORS_ORIGINS: 'https://dashboard.example', RATE_LIMIT_WRITES_PER_SECOND: '3' });
  });
  after(() => broker.close());

  it('sends secure headers and allows cross-origin calls only from configured origins', async () => {
    const res = await fetch(`${broker.url}/health`, { headers: { origin: 'https://dashboard.example' } });
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://dashboard.example');
    const foreign = await fetch(`${broker.url}/health`, { headers: { origin: 'https://evil.example' } });
    assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    const preflight = await fetch(`${broker.url}/v2/events`, {
      method: 'OPTIONS',
      headers: { origin: 'https://dashboard.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    assert.equal(preflight.status, 204);
    assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Authorization/i);
  });

  it('limits writes per tenant with 429 + Retry-After, and leaves reads alone', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postJson(`${broker.url}/v2/events`, { sessionId: 'limited', type: 'custom.a', data: { i } })),
    );
    const limited = answers.filter((a) => a.status === 429);
    // 3 per second: even if a busy machine spreads the 20 over two or three windows, most are refused.
    assert.ok(limited.length >= 10, `${limited.length} of 20 limited`);
    assert.ok(answers.filter((a) => a.status === 201).length >= 1);
    assert.equal(limited[0]!.body.error.code, 'rate_limited');
    assert.equal(limited[0]!.body.error.requestId, limited[0]!.headers.get('x-request-id'));
    assert.ok(Number(limited[0]!.headers.get('retry-after')) >= 0);
    const reads = await Promise.all(Array.from({ length: 10 }, () => fetch(`${broker.url}/v2/sessions/limited/events`)));
    assert.ok(reads.every((r) => r.status === 200));
  });
});

describe('bad URLs', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('answers a NUL in a path or query parameter and a cursor beyond 2^53 with 400 in the envelope', async () => {
    for (const path of [
      '/v2/sessions/a%00b/events',
      '/events?session_id=a%00b',
      '/sessions/a%00',
      '/traces?cursor=99999999999999999999999',
      '/events?cursor=99999999999999999999999',
    ]) {
      const res = await fetch(`${broker.url}${path}`);
      assert.equal(res.status, 400, path);
      const body = (await res.json()) as { error: { code: string; requestId: string } };
      assert.ok(body.error.code && body.error.requestId, path);
    }
  });
});

describe('item caps on batch routes', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  it('refuses more than 1,000 items in one POST /messages or POST /v2/events with 400, storing none of them', async () => {
    const messages = (n: number) => ({
      conversation_id: 'capped',
      query_id: 'q',
      messages: Array.from({ length: n }, (_, i) => ({ role: 'user', content: `${i}` })),
    });
    const tooMany = await postJson(`${broker.url}/messages`, messages(1_001));
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.body.error.code, 'VALIDATION_ERROR');
    const events = await postJson(
      `${broker.url}/v2/events`,
      Array.from({ length: 1_001 }, () => ({ sessionId: 'capped', type: 'custom.a', data: {} })),
    );
    assert.equal(events.status, 400);
    const stored = await broker.sql.query(`SELECT count(*)::int AS n FROM events WHERE session_id = 'capped' OR data::text LIKE '%capped%'`);
    assert.equal(stored.rows[0].n, 0);
    assert.equal((await postJson(`${broker.url}/messages`, messages(1_000))).status, 200);
  });
});

describe('limits on watches and slow bodies', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ WATCH_STREAMS_PER_USER: '2', REQUEST_BODY_TIMEOUT_MS: '500' });
  });
  after(() => broker.close());

  it('refuses a third open watch stream of one user with 429 too_many_watches, and frees the slot on close', async () => {
    const open = [new AbortController(), new AbortController()];
    const streams = await Promise.all(open.map((a) => fetch(`${broker.url}/v2/events?watch=true`, { signal: a.signal })));
    assert.deepEqual(
      streams.map((s) => s.status),
      [200, 200],
    );
    const third = await fetch(`${broker.url}/events?watch=true`);
    assert.equal(third.status, 429);
    const body = (await third.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'TOO_MANY_WATCHES', 'upstream routes answer in upstream casing');
    assert.equal(third.headers.get('retry-after'), '1');
    open[0]!.abort();
    let again: Response | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open[0] = new AbortController();
      again = await fetch(`${broker.url}/sessions?watch=true`, { signal: open[0].signal }).catch(() => undefined);
      if (again && again.status !== 200) await again.text();
    }
    assert.equal(again?.status, 200, 'a closed stream frees its slot');
    for (const a of open) a.abort();
  });

  it('answers 408 request_timeout to a body that does not arrive in time, but not to a long chunk upload', async () => {
    const { request } = await import('node:http');
    const url = new URL(`${broker.url}/v2/events`);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '100' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.write('{"sessionId":'); // and never the rest
    });
    assert.equal(status, 408);
    // A chunk upload may take longer than the body timeout: lines keep coming.
    const upload = new URL(`${broker.url}/stream/slow-query`);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        {
          host: upload.hostname,
          port: upload.port,
          path: upload.pathname,
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      let sent = 0;
      const tick = setInterval(() => {
        req.write(`${JSON.stringify({ choices: [{ delta: { content: `t${sent}` } }] })}\n`);
        if (++sent === 8) {
          clearInterval(tick);
          req.end();
        }
      }, 150);
    });
    assert.equal(answer.status, 200, answer.body);
    assert.equal(JSON.parse(answer.body).chunks_received, 8);
  });
});

describe('a full write queue', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ APPEND_MAX_QUEUED_EVENTS: '1' });
  });
  after(() => broker.close());

  it('answers 503 unavailable with Retry-After, and stores exactly what it accepted', async () => {
    let answers: Awaited<ReturnType<typeof postJson>>[] = [];
    let sessionId = '';
    // One queued event fills the queue: of many concurrent appends, those arriving meanwhile are refused.
    for (let round = 0; round < 10 && !answers.some((a) => a.status === 503); round++) {
      sessionId = `queue-${round}`;
      answers = await Promise.all(Array.from({ length: 50 }, (_, i) => postJson(`${broker.url}/v2/events`, { sessionId, type: 'custom.a', data: { i } })));
    }
    const refused = answers.filter((a) => a.status === 503);
    assert.ok(refused.length > 0, 'some appends found the queue full');
    assert.equal(refused[0]!.body.error.code, 'unavailable');
    assert.equal(refused[0]!.body.error.requestId, refused[0]!.headers.get('x-request-id'));
    assert.equal(refused[0]!.headers.get('retry-after'), '1');
    const accepted = answers.filter((a) => a.status === 201).length;
    assert.equal(accepted + refused.length, answers.length);
    const { rows } = await broker.sql.query(`SELECT count(*)::int AS n FROM events WHERE session_id = $1`, [sessionId]);
    assert.equal(rows[0].n, accepted);
  });
});
