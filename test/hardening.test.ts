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

describe('every bad input gets a 4xx in the envelope', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker();
  });
  after(() => broker.close());

  type Answer = { status: number; body: any; headers: Headers };
  const assertEnvelope = (answer: Answer, status: number, code: string, label: string) => {
    assert.equal(answer.status, status, `${label}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, code, label);
    assert.equal(typeof answer.body.error.message, 'string', label);
    assert.equal(answer.body.error.requestId, answer.headers.get('x-request-id'), label);
  };
  const deepObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

  it('JSON nested 10,000 deep: 400 on every JSON route, and nothing stored', async () => {
    const deep = deepObject(10_000);
    for (const [path, code] of [
      ['/v2/events', 'bad_request'],
      ['/events', 'REQUEST_ERROR'],
      ['/messages', 'REQUEST_ERROR'],
      ['/sessions', 'REQUEST_ERROR'],
      ['/v1/traces', 'REQUEST_ERROR'],
    ] as const) {
      const answer = await postJson(`${broker.url}${path}`, deep);
      assertEnvelope(answer, 400, code, path);
      assert.match(answer.body.error.message, /nests deeper than 1000 levels/);
    }
    const inField = await postJson(`${broker.url}/v2/events`, `{"sessionId":"deep","type":"custom.a","data":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
    assertEnvelope(inField, 400, 'bad_request', 'a deep field');
    const put = await fetch(`${broker.url}/v2/retention`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: deep });
    assertEnvelope({ status: put.status, body: await put.json(), headers: put.headers }, 400, 'bad_request', 'PUT /v2/retention');
    // Nesting real payloads never reach is still stored.
    assert.equal((await postJson(`${broker.url}/v2/events`, `{"sessionId":"deep","type":"custom.a","data":${deepObject(100)}}`)).status, 201);
    const { rows } = await broker.sql.query(`SELECT count(*)::int AS n FROM events WHERE session_id = 'deep'`);
    assert.equal(rows[0].n, 1);
  });

  it('one deep line in a long NDJSON upload is skipped and counted; the others are stored', async () => {
    const lines = Array.from({ length: 300 }, (_, i) =>
      i === 200 ? deepObject(10_000) : JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: `t${i}` } }] }),
    );
    const answer = await fetch(`${broker.url}/stream/deep-line`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: lines.join('\n'),
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(await answer.json(), { status: 'stream_processed', query: 'deep-line', chunks_received: 299, skipped_lines: 1 });
  });

  it('ids far longer than any real one: 400 naming the field on writes, 414 for a path segment', async () => {
    const random = (n: number) => Array.from({ length: n }, () => String.fromCharCode(0x21 + Math.floor(Math.random() * 0x5d))).join('');
    const longQuery = await postJson(`${broker.url}/events`, {
      metadata: { name: 'e' },
      reason: 'ToolCallStart',
      message: 'm',
      data: { queryId: random(9_000), queryName: 'q', sessionId: 's', queryNamespace: 'default' },
    });
    assertEnvelope(longQuery, 400, 'VALIDATION_ERROR', 'a 9,000-character query id');
    assert.match(longQuery.body.error.message, /^queryId is 9000 characters long/);
    const longSession = await postJson(`${broker.url}/messages`, {
      conversation_id: random(9_000),
      query_id: 'q',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.equal(longSession.status, 400, JSON.stringify(longSession.body));
    for (const path of ['/v2/sessions/', '/sessions/', '/events/', '/stream/']) {
      const answer = await getJsonAnswer(`${broker.url}${path}${'x'.repeat(9_000)}`);
      assertEnvelope(answer, 414, path.startsWith('/v2') ? 'uri_too_long' : 'REQUEST_ERROR', path);
      assert.ok(!JSON.stringify(answer.body).includes('xxxxxxxx'), 'the 414 does not echo the URL');
    }
    // A long but plausible id (a Kubernetes name is up to 253 characters) is routed, not refused.
    assert.equal((await fetch(`${broker.url}/sessions/${'k'.repeat(253)}`)).status, 404);
  });

  it('431 for oversized headers and 400 for a request that is not HTTP, in the envelope, without echoing them', async () => {
    const big = await rawRequest(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'z'.repeat(70_000)}\r\n\r\n`);
    assert.match(big.head, /^HTTP\/1\.1 431 /);
    assert.equal(JSON.parse(big.body).error.code, 'REQUEST_ERROR');
    assert.ok(!big.body.includes('zzzz'));
    const longUrl = await rawRequest(`GET /sessions?search=${'y'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(longUrl.head, /^HTTP\/1\.1 431 /);
    assert.ok(!longUrl.body.includes('yyyy'));
    const garbage = await rawRequest('NOT-HTTP at all\r\n\r\n');
    assert.match(garbage.head, /^HTTP\/1\.1 400 /);
    const body = JSON.parse(garbage.body) as { error: { code: string; message: string; requestId: string } };
    assert.equal(body.error.code, 'REQUEST_ERROR');
    assert.match(garbage.head, new RegExp(`X-Request-ID: ${body.error.requestId}`));
    assert.match(garbage.head, /X-Content-Type-Options: nosniff/);
  });

  async function getJsonAnswer(url: string): Promise<Answer> {
    const response = await fetch(url);
    return { status: response.status, body: await response.json(), headers: response.headers };
  }

  /** Sends raw bytes and reads the whole answer (the server closes the connection after these answers). */
  async function rawRequest(text: string): Promise<{ head: string; body: string }> {
    const { connect } = await import('node:net');
    const url = new URL(broker.url);
    return new Promise((resolve, reject) => {
      let answer = '';
      const socket = connect(Number(url.port), url.hostname, () => socket.write(text));
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
      socket.on('error', () => undefined); // the server may reset after answering
      socket.on('close', () => {
        const split = answer.indexOf('\r\n\r\n');
        if (split < 0) reject(new Error(`no answer: ${JSON.stringify(answer)}`));
        else resolve({ head: answer.slice(0, split), body: answer.slice(split + 4) });
      });
    });
  }
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
