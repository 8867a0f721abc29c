import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { GroupCommitWriter, WriteQueueFullError } from '#ark/event-store';
import { fixtureJson, fixtureText } from './support/fixtures.js';
import { sleep } from './support/sse-client.js';
import { getJson, postJson, startTestBroker, type TestBroker } from './support/test-broker.js';

const TIMEOUT_CHUNK = {
  error: { message: 'Request timeout waiting for streaming query response', type: 'timeout_error', code: 'timeout' },
};

interface Frame {
  id?: string;
  data: string;
}

/** A raw SSE reader: keeps every frame's `id:` and `data:` text as sent (upstream's `[DONE]` is not JSON). */
class SseReader {
  readonly frames: Frame[] = [];
  /** The `id:` of the newest block that had one, with or without data (as EventSource keeps it). */
  lastEventId: string | undefined;
  readonly comments: string[] = [];
  /** Resolves when the server ends the stream. */
  ended!: Promise<void>;
  status = 0;
  private readonly abort = new AbortController();
  private waiters: { test: () => boolean; resolve: () => void }[] = [];

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const reader = new SseReader();
    const res = await fetch(url, { headers, signal: reader.abort.signal });
    reader.status = res.status;
    reader.ended = reader.read(res);
    return reader;
  }

  /** The JSON frames parsed, `[DONE]` as the string. */
  get data(): any[] {
    return this.frames.map((f) => (f.data === '[DONE]' ? '[DONE]' : JSON.parse(f.data)));
  }

  waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    return this.until(
      () => this.frames.length >= count,
      timeoutMs,
      () => `timed out waiting for ${count} frames; have ${JSON.stringify(this.frames)}`,
    );
  }

  until(test: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(describe())), timeoutMs);
      this.waiters.push({
        test,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  close(): void {
    this.abort.abort();
  }

  private async read(res: Response): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const bytes of res.body!) {
        buffer += decoder.decode(bytes, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          this.take(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // closed by the test
    }
  }

  private take(block: string): void {
    const frame: Frame = { data: '' };
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(': ')) this.comments.push(line.slice(2));
      else if (line.startsWith('id: ')) frame.id = line.slice(4);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (frame.id !== undefined) this.lastEventId = frame.id;
    if (data.length > 0) {
      frame.data = data.join('\n');
      this.frames.push(frame);
    }
    this.waiters = this.waiters.filter((w) => {
      if (!w.test()) return true;
      w.resolve();
      return false;
    });
  }
}

/** POSTs a body as is (default NDJSON); `contentType: null` sends no Content-Type at all. */
function postBody(
  url: string,
  body: string | Buffer,
  { contentType = 'application/x-ndjson', headers = {} }: { contentType?: string | null; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { ...(contentType === null ? {} : { 'content-type': contentType }), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ndjson = (values: unknown[]) => values.map((v) => JSON.stringify(v) + '\n').join('');
const chunk = (n: number, extra: Record<string, unknown> = {}) => ({
  object: 'chat.completion.chunk',
  choices: [{ index: 0, delta: { content: `t${n}` } }],
  n,
  ...extra,
});

describe('/stream: upstream-compatible chunk routes', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startTestBroker({ SSE_HEARTBEAT_MS: '300' });
  });
  after(() => broker.close());

  const chunkRows = async (queryId: string) =>
    (
      await broker.sql.query(
        `SELECT tenant_id, session_id, type, source, query_id, data FROM events
         WHERE query_name = $1 AND source = 'chunk' ORDER BY transaction_id, global_position`,
        [queryId],
      )
    ).rows;

  it('stores the fixture uploads and replays them framed as upstream does', async () => {
    // The write/complete/read fixtures describe one stream: the complete answer names its query.
    const completeFixture = fixtureJson('stream-complete-response.json');
    const streamQuery: string = completeFixture.query;
    const uploads = [
      ['fixture-content', 'chunks-content-stream.ndjson'],
      ['fixture-tools', 'chunks-tool-calls-stream.ndjson'],
      [streamQuery, 'stream-write-request-body.ndjson'],
    ] as const;
    for (const [queryId, file] of uploads) {
      const lines = fixtureText(file).trim().split('\n');
      const res = await postBody(`${broker.url}/stream/${queryId}`, fixtureText(file));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { status: 'stream_processed', query: queryId, chunks_received: lines.length });
      const rows = await chunkRows(queryId);
      assert.deepEqual(
        rows.map((r) => r.data.chunk),
        lines.map((l) => JSON.parse(l)),
      );
      assert.deepEqual(
        rows.map((r) => r.data.index),
        lines.map((_, i) => i),
      );
      assert.ok(rows.every((r) => r.type === 'llm.chunk' && r.source === 'chunk' && r.session_id === queryId && r.tenant_id === 'default'));
    }

    const completed = await postJson(`${broker.url}/stream/${streamQuery}/complete`, {});
    assert.equal(completed.status, 200);
    assert.deepEqual(completed.body, completeFixture);

    const reader = await SseReader.open(`${broker.url}/stream/${streamQuery}?from-beginning=true`);
    assert.equal(reader.status, 200);
    await reader.ended;
    const expected = fixtureText('sse-read-stream-openai-chunks.txt')
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6));
    assert.equal(reader.frames.length, expected.length);
    assert.deepEqual(
      reader.data,
      expected.map((d) => (d === '[DONE]' ? d : JSON.parse(d))),
    );
    assert.ok(
      reader.frames.slice(0, -1).every((f) => /^\d+:\d+$/.test(f.id ?? '')),
      'chunk frames carry tx:pos ids',
    );
    assert.equal(reader.frames.at(-1)!.id, undefined, '[DONE] has no id: resuming from the last chunk ends the same way');
  });

  it('relays each line of a long chunked upload while the request is still open', async () => {
    const reader = await SseReader.open(`${broker.url}/stream/long-upload`);
    await sleep(150);
    let answered = false;
    const upload: { request?: http.ClientRequest } = {};
    const response = new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = http.request(`${broker.url}/stream/long-upload`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          answered = true;
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        });
      });
      req.on('error', reject);
      upload.request = req;
    });
    const startedAt = Date.now();
    for (let i = 0; i < 12; i++) {
      upload.request!.write(JSON.stringify(chunk(i)) + '\n');
      await reader.waitFor(i + 1);
      assert.equal(answered, false, 'the chunk arrived while the upload was still open');
      await sleep(250);
    }
    assert.ok(Date.now() - startedAt >= 2_500, 'the upload stayed open for seconds');
    upload.request!.end();
    const res = await response;
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'stream_processed', query: 'long-upload', chunks_received: 12 });
    assert.deepEqual(
      reader.data.map((c: any) => c.n),
      Array.from({ length: 12 }, (_, i) => i),
    );

    assert.equal((await postJson(`${broker.url}/stream/long-upload/complete`, {})).body.status, 'completed');
    await reader.ended;
    assert.equal(reader.frames.at(-1)!.data, '[DONE]');
    assert.equal(reader.frames.length, 13);
  });

  describe("live chunks: sent to this replica's readers before they commit", () => {
    const session = 'live-ahead-session';
    const live = (n: number) => chunk(n, { ark: { session } });
    /** Holds the session's append lock (ark_append_events takes it), so its uploads cannot commit. */
    const holdAppends = async () => {
      const client = await broker.sql.connect();
      await client.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`default/${session}`]);
      return {
        release: async () => {
          await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [`default/${session}`]);
          client.release();
        },
      };
    };
    const settled = (promise: Promise<unknown>) => {
      const state = { done: false };
      void promise.finally(() => (state.done = true));
      return state;
    };

    it('after the first committed chunk, a chunk reaches the reader before its upload commits; its id follows once it has', async () => {
      const reader = await SseReader.open(`${broker.url}/stream/live-ahead`);
      await sleep(150);
      assert.equal((await postBody(`${broker.url}/stream/live-ahead`, ndjson([live(0)]))).status, 200);
      await reader.waitFor(1);
      assert.ok(reader.frames[0]!.id, 'the first chunk is sent once committed, with its id');
      const afterFirst = reader.frames[0]!.id;

      const held = await holdAppends();
      const upload = postBody(`${broker.url}/stream/live-ahead`, ndjson([live(1), live(2)]));
      const answered = settled(upload);
      await reader.waitFor(3);
      assert.equal(answered.done, false, 'the chunks arrived while their upload could not commit');
      assert.deepEqual(
        reader.frames.slice(1).map((f) => [f.id, JSON.parse(f.data).n]),
        [
          [undefined, 1],
          [undefined, 2],
        ],
        'sent ahead: no id yet',
      );
      assert.equal(reader.lastEventId, afterFirst);

      await held.release();
      assert.deepEqual((await upload).body, { status: 'stream_processed', query: 'live-ahead', chunks_received: 2 });
      await reader.until(
        () => reader.lastEventId !== afterFirst,
        10_000,
        () => 'no id for the committed chunks',
      );
      await postJson(`${broker.url}/stream/live-ahead/complete`, {});
      await reader.ended;
      assert.deepEqual(reader.data, [live(0), live(1), live(2), '[DONE]'], 'each chunk once, in order');

      // The ids the reader was given are those of the committed chunks.
      const replay = await SseReader.open(`${broker.url}/stream/live-ahead?from-beginning=true`);
      await replay.ended;
      assert.deepEqual(replay.data, [live(0), live(1), live(2), '[DONE]']);
      assert.equal(reader.lastEventId, replay.frames[2]!.id, 'Last-Event-ID names the last committed chunk');
      // Resuming from the first chunk's id repeats what was sent ahead of it, from the log.
      const resumed = await SseReader.open(`${broker.url}/stream/live-ahead`, { 'Last-Event-ID': afterFirst });
      await resumed.ended;
      assert.deepEqual(resumed.data, [live(1), live(2), '[DONE]']);
    });

    it('a chunk sent ahead whose upload failed is never sent again: a reconnecting reader gets only what committed', async () => {
      const query = 'live-ahead-lost';
      const reader = await SseReader.open(`${broker.url}/stream/${query}`);
      await sleep(150);
      assert.equal((await postBody(`${broker.url}/stream/${query}`, ndjson([live(0)]))).status, 200);
      await reader.waitFor(1);
      const afterFirst = reader.frames[0]!.id!;

      const held = await holdAppends();
      const upload = postBody(`${broker.url}/stream/${query}`, ndjson([live(1)])).catch((error: Error) => ({ status: 0, body: error.message }));
      await reader.waitFor(2);
      // The append waiting for the lock dies with its connection (as in a crash): nothing of it commits.
      const { rows } = await broker.sql.query(
        `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
      );
      assert.equal(rows.length, 1, 'one append was waiting for the lock');
      assert.notEqual((await upload).status, 200, 'the producer is told its upload failed');
      await held.release();
      assert.equal(reader.lastEventId, afterFirst, 'no id for a chunk that did not commit');

      assert.equal((await postBody(`${broker.url}/stream/${query}`, ndjson([live(2)]))).status, 200);
      await postJson(`${broker.url}/stream/${query}/complete`, {});
      const resumed = await SseReader.open(`${broker.url}/stream/${query}`, { 'Last-Event-ID': afterFirst });
      await resumed.ended;
      assert.deepEqual(resumed.data, [live(2), '[DONE]']);
      // The lost chunk's index is not handed out again: the reader that was sent it gets the next chunk's data, not only an id.
      await reader.ended;
      assert.deepEqual(reader.data, [live(0), live(1), live(2), '[DONE]']);
    });

    it('chunks read while the first one commits wait for it and then go ahead of their own commit', async () => {
      const query = 'live-ahead-waiting';
      const reader = await SseReader.open(`${broker.url}/stream/${query}`);
      await sleep(150);
      const held = await holdAppends();
      const upload = postBody(`${broker.url}/stream/${query}`, ndjson([live(0), live(1), live(2)]));
      await sleep(200);
      assert.equal(reader.frames.length, 0, 'nothing is sent before the first chunk is known to follow what the reader has');
      await held.release();
      assert.equal((await upload).status, 200);
      await postJson(`${broker.url}/stream/${query}/complete`, {});
      await reader.ended;
      assert.deepEqual(reader.data, [live(0), live(1), live(2), '[DONE]'], 'each chunk once, in order');
      assert.deepEqual(
        reader.frames.slice(0, 3).map((f) => f.id === undefined),
        [false, true, true],
        'the first chunk with its id; the two that waited for it sent ahead of their commit',
      );
      const replay = await SseReader.open(`${broker.url}/stream/${query}?from-beginning=true`);
      await replay.ended;
      assert.equal(reader.lastEventId, replay.frames[2]!.id, 'their ids followed once committed');
    });
  });

  it('keeps the complete lines of an upload the producer broke off, not its partial last line', async () => {
    const req = http.request(`${broker.url}/stream/broken-off`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } });
    req.on('error', () => undefined);
    req.write(ndjson([chunk(0), chunk(1), chunk(2)]) + '{"n": 3, "cut');
    const deadline = Date.now() + 5_000;
    while ((await chunkRows('broken-off')).length < 3 && Date.now() < deadline) await sleep(50);
    req.destroy();
    await sleep(300);
    assert.deepEqual(
      (await chunkRows('broken-off')).map((r) => r.data.chunk.n),
      [0, 1, 2],
    );
    const next = await postBody(`${broker.url}/stream/broken-off`, ndjson([chunk(3)]));
    assert.equal(next.body.chunks_received, 1);
    assert.deepEqual(
      (await chunkRows('broken-off')).map((r) => r.data.index),
      [0, 1, 2, 3],
    );
  });

  it('late joiners: from-beginning replays the stored chunks, without it only new ones arrive', async () => {
    await postBody(`${broker.url}/stream/late`, ndjson([chunk(0), chunk(1), chunk(2)]));
    const replaying = await SseReader.open(`${broker.url}/stream/late?from-beginning=true`);
    const live = await SseReader.open(`${broker.url}/stream/late?from-beginning=false`);
    await replaying.waitFor(3);
    await sleep(300);
    assert.equal(live.frames.length, 0);
    await postBody(`${broker.url}/stream/late`, ndjson([chunk(3), chunk(4)]));
    await replaying.waitFor(5);
    await live.waitFor(2);
    assert.deepEqual(
      replaying.data.map((c: any) => c.n),
      [0, 1, 2, 3, 4],
    );
    assert.deepEqual(
      live.data.map((c: any) => c.n),
      [3, 4],
    );
    assert.ok(live.comments.includes('heartbeat'), 'heartbeats keep idle readers alive');
    await postJson(`${broker.url}/stream/late/complete`, {});
    await Promise.all([replaying.ended, live.ended]);
    assert.equal(replaying.frames.at(-1)!.data, '[DONE]');
    assert.equal(live.frames.at(-1)!.data, '[DONE]');
  });

  it('answers the upstream timeout error chunk and [DONE] when wait-for-query elapses first', async () => {
    const startedAt = Date.now();
    const waiting = await SseReader.open(`${broker.url}/stream/never-written?wait-for-query=1`);
    await waiting.ended;
    const elapsed = Date.now() - startedAt;
    assert.ok(elapsed >= 900 && elapsed < 3_000, `ended after ${elapsed} ms`);
    assert.deepEqual(waiting.data, [TIMEOUT_CHUNK, '[DONE]']);

    // A chunk in time cancels the timeout.
    const connectedAt = Date.now();
    const served = await SseReader.open(`${broker.url}/stream/written-in-time?wait-for-query=3`);
    await sleep(100);
    await postBody(`${broker.url}/stream/written-in-time`, ndjson([chunk(0)]));
    await served.waitFor(1);
    await sleep(3_300 - (Date.now() - connectedAt));
    assert.deepEqual(
      served.data.map((c: any) => c.n),
      [0],
    );
    served.close();

    const invalid = await getJson(`${broker.url}/stream/x?wait-for-query=soon`);
    assert.equal(invalid.status, 400);
    assert.equal((await getJson(`${broker.url}/stream/x?from-beginning=yes`)).status, 400);
  });

  it('ends a live stream after an error chunk with [DONE]', async () => {
    const reader = await SseReader.open(`${broker.url}/stream/failing`);
    await sleep(150);
    const error = { error: { message: 'model overloaded', type: 'server_error' } };
    await postBody(`${broker.url}/stream/failing`, ndjson([chunk(0), error]));
    await reader.ended;
    assert.deepEqual(reader.data, [chunk(0), error, '[DONE]']);
  });

  it('completes once: completed, then already_completed; 404 for a query without chunks', async () => {
    await postBody(`${broker.url}/stream/complete-me`, ndjson([chunk(0), chunk(1)]));
    const [first, second] = await Promise.all([
      postJson(`${broker.url}/stream/complete-me/complete`, {}),
      postJson(`${broker.url}/stream/complete-me/complete`, {}),
    ]);
    assert.deepEqual([first.body.status, second.body.status].sort(), ['already_completed', 'completed']);
    const third = await postBody(`${broker.url}/stream/complete-me/complete`, '', { contentType: 'text/plain' });
    assert.deepEqual(third.body, { status: 'already_completed', query: 'complete-me' });
    const completions = (await chunkRows('complete-me')).filter((r) => r.type === 'llm.stream.completed');
    assert.deepEqual(
      completions.map((r) => r.data),
      [{ chunkCount: 2 }],
    );

    const missing = await postJson(`${broker.url}/stream/no-such-query/complete`, {}, { 'x-request-id': 'req-404' });
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.body, { error: { code: 'NOT_FOUND', message: 'Stream not found', requestId: 'req-404' } });
  });

  it('replays a completed stream to a late reader and ends it with [DONE]', async () => {
    const reader = await SseReader.open(`${broker.url}/stream/complete-me?from-beginning=true`);
    await reader.ended;
    assert.deepEqual(reader.data, [chunk(0), chunk(1), '[DONE]']);
  });

  it('resumes after Last-Event-ID with exactly the later chunks', async () => {
    await postBody(`${broker.url}/stream/resumable`, ndjson([0, 1, 2, 3, 4, 5].map((n) => chunk(n))));
    await postJson(`${broker.url}/stream/resumable/complete`, {});
    const full = await SseReader.open(`${broker.url}/stream/resumable?from-beginning=true`);
    await full.ended;
    assert.equal(full.frames.length, 7);
    const resumed = await SseReader.open(`${broker.url}/stream/resumable`, { 'Last-Event-ID': full.frames[2]!.id! });
    await resumed.ended;
    assert.deepEqual(resumed.data, [chunk(3), chunk(4), chunk(5), '[DONE]']);
    assert.deepEqual(
      resumed.frames.slice(0, 3).map((f) => f.id),
      full.frames.slice(3, 6).map((f) => f.id),
    );

    const bad = await getJson(`${broker.url}/stream/resumable`, { 'Last-Event-ID': 'yesterday' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'PAGINATION_ERROR');
  });

  it('a resent upload with the same Idempotency-Key stores nothing new; without one it is stored again', async () => {
    const body = ndjson([chunk(0), chunk(0), chunk(1)]); // two identical lines are two chunks
    const headers = { 'idempotency-key': 'upload-attempt-1' };
    const first = await postBody(`${broker.url}/stream/retried`, body, { headers });
    const resent = await postBody(`${broker.url}/stream/retried`, body, { headers });
    assert.deepEqual(first.body, { status: 'stream_processed', query: 'retried', chunks_received: 3 });
    assert.deepEqual(resent.body, first.body);
    assert.deepEqual(
      (await chunkRows('retried')).map((r) => r.data.chunk.n),
      [0, 0, 1],
    );

    await postBody(`${broker.url}/stream/retried`, body);
    assert.equal((await chunkRows('retried')).length, 6);
    const badKey = await postBody(`${broker.url}/stream/retried`, body, { headers: { 'idempotency-key': 'x'.repeat(300) } });
    assert.equal(badKey.status, 400);
  });

  it('a 2xx upload is durable: thousands of lines in one body, all stored, in order, with contiguous indexes', async () => {
    const lines: string[] = [];
    for (let n = 0; n < 3_000; n++) {
      lines.push(JSON.stringify(chunk(n)));
      if (n % 500 === 7) lines.push('{not json', '', '   ');
    }
    const res = await postBody(`${broker.url}/stream/bulk`, lines.join('\n')); // no trailing newline: the last line counts
    assert.deepEqual(res.body, { status: 'stream_processed', query: 'bulk', chunks_received: 3_000 });
    const rows = await chunkRows('bulk');
    assert.deepEqual(
      rows.map((r) => r.data.chunk.n),
      Array.from({ length: 3_000 }, (_, i) => i),
    );
    assert.deepEqual(
      rows.map((r) => r.data.index),
      Array.from({ length: 3_000 }, (_, i) => i),
    );

    // One request per chunk continues the indexes.
    await postBody(`${broker.url}/stream/bulk`, JSON.stringify(chunk(3_000)));
    assert.equal((await chunkRows('bulk')).at(-1)!.data.index, 3_000);
  });

  it('reads NDJSON whatever the content type, gzip included, and reports lines it could not store', async () => {
    const cases: [string, string | null][] = [
      ['ct-json-one', 'application/json'],
      ['ct-json-lines', 'application/json'],
      ['ct-text', 'text/plain'],
      ['ct-none', null],
      ['ct-odd', 'application/octet-stream'],
    ];
    for (const [queryId, contentType] of cases) {
      const body = queryId === 'ct-json-one' ? JSON.stringify(chunk(0)) : ndjson([chunk(0), chunk(1)]);
      const res = await postBody(`${broker.url}/stream/${queryId}`, body, { contentType });
      assert.equal(res.status, 200, `${contentType}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.chunks_received, queryId === 'ct-json-one' ? 1 : 2, String(contentType));
    }
    const gzipped = await postBody(`${broker.url}/stream/ct-gzip`, gzipSync(ndjson([chunk(0), chunk(1), chunk(2)])), {
      headers: { 'content-encoding': 'gzip' },
    });
    assert.equal(gzipped.body.chunks_received, 3);

    const overlong = JSON.stringify({ big: 'x'.repeat(1024 * 1024 + 10) });
    const nul = '{"text":"nul \\u0000 here"}';
    const loneSurrogate = '{"text":"half \\ud800 a pair"}';
    const lines = [chunk(0), overlong, chunk(1), nul, chunk(2), loneSurrogate];
    const res = await postBody(`${broker.url}/stream/skips`, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
    assert.deepEqual(res.body, { status: 'stream_processed', query: 'skips', chunks_received: 3, skipped_lines: 3 });
    assert.deepEqual(
      (await chunkRows('skips')).map((r) => r.data.chunk.n),
      [0, 1, 2],
    );
  });

  it('maps ark metadata to the session and query id, and tool-approval chunks to approval events', async () => {
    const withArk = { ...chunk(0), ark: { query: 'q-uid-789', session: 'sess-123', agent: 'analyst', model: 'gpt-4' } };
    const request = { type: 'tool_approval_request', taskId: 'task-1', toolCalls: [{ id: 'call_1', function: { name: 'rm', arguments: '{}' } }] };
    const response = { type: 'tool_approval_response', taskId: 'task-1', action: 'approve' };
    await postBody(`${broker.url}/stream/approvals`, ndjson([withArk, chunk(1), request, response]));
    const rows = await chunkRows('approvals');
    assert.deepEqual(
      // query_id: the chunk's ark.query (the query UID); query_name: the upload path's query.
      rows.map((r) => [r.type, r.session_id, r.query_id]),
      [
        ['llm.chunk', 'sess-123', 'q-uid-789'],
        ['llm.chunk', 'approvals', null],
        ['approval.requested', 'approvals', null],
        ['approval.resolved', 'approvals', null],
      ],
    );
    assert.deepEqual(rows[2].data, { chunk: request, index: 2, taskId: 'task-1', toolCalls: request.toolCalls, action: null });
    assert.deepEqual(rows[3].data, { chunk: response, index: 3, taskId: 'task-1', toolCalls: null, action: 'approve' });

    const replay = await SseReader.open(`${broker.url}/stream/approvals?from-beginning=true`);
    await replay.waitFor(4);
    assert.deepEqual(replay.data, [withArk, chunk(1), request, response]);
    replay.close();
  });

  it('gives concurrent uploads to one query distinct indexes and loses no line', async () => {
    const bodies = [0, 1, 2].map((u) => ndjson(Array.from({ length: 400 }, (_, i) => chunk(i, { u }))));
    const answers = await Promise.all(bodies.map((b) => postBody(`${broker.url}/stream/concurrent`, b)));
    assert.deepEqual(
      answers.map((a) => a.body.chunks_received),
      [400, 400, 400],
    );
    const rows = await chunkRows('concurrent');
    assert.deepEqual(
      rows.map((r) => r.data.index).sort((a: number, b: number) => a - b),
      Array.from({ length: 1_200 }, (_, i) => i),
    );
    for (const u of [0, 1, 2]) {
      assert.deepEqual(
        rows.filter((r) => r.data.chunk.u === u).map((r) => r.data.chunk.n),
        Array.from({ length: 400 }, (_, i) => i),
      );
    }
  });
});

describe('/stream: the all-chunks list, its watch, purge, and backpressure', () => {
  let broker: TestBroker;
  before(async () => {
    // A small write queue, so concurrent uploads hit "queue full" and must wait instead of failing.
    broker = await startTestBroker({ APPEND_MAX_QUEUED_EVENTS: '150' });
  });
  after(() => broker.close());

  it('watches every chunk as bare frames, completion as "[DONE]", with ids', async () => {
    const watcher = await SseReader.open(`${broker.url}/stream?watch=true`);
    await sleep(150);
    await postBody(`${broker.url}/stream/w1`, ndjson([chunk(0), 'a string chunk']));
    await postJson(`${broker.url}/stream/w1/complete`, {});
    await watcher.waitFor(3);
    assert.ok(watcher.comments.includes('connected'));
    // Frames are JSON values: the string chunk and the completion marker are JSON strings.
    assert.deepEqual(
      watcher.frames.map((f) => JSON.parse(f.data)),
      [chunk(0), 'a string chunk', '[DONE]'],
    );
    assert.deepEqual(
      watcher.frames.slice(1).map((f) => f.data),
      ['"a string chunk"', '"[DONE]"'],
    );
    assert.ok(watcher.frames.every((f) => /^\d+:\d+$/.test(f.id ?? '')));
    watcher.close();
  });

  it('pages the stored items ascending with upstream cursors, limits and totals', async () => {
    await postBody(`${broker.url}/stream/p1`, ndjson([chunk(0), chunk(1)]));
    const first = await getJson(`${broker.url}/stream?limit=2`);
    assert.equal(first.status, 200);
    assert.equal(first.body.total, 5);
    assert.equal(first.body.hasMore, true);
    assert.equal(first.body.nextCursor, first.body.items[1].sequenceNumber);
    const item = first.body.items[0];
    assert.deepEqual(Object.keys(item).sort(), ['data', 'sequenceNumber', 'timestamp']);
    assert.deepEqual(item.data, { queryId: 'w1', chunk: chunk(0) });
    assert.ok(!Number.isNaN(Date.parse(item.timestamp)));

    const rest = await getJson(`${broker.url}/stream?limit=10abc&cursor=${first.body.nextCursor}`);
    assert.deepEqual(
      rest.body.items.map((i: any) => i.data),
      [
        { queryId: 'w1', chunk: '[DONE]', complete: true },
        { queryId: 'p1', chunk: chunk(0) },
        { queryId: 'p1', chunk: chunk(1) },
      ],
    );
    assert.equal(rest.body.hasMore, false);
    assert.equal('nextCursor' in rest.body, false);
    const sequences = [...first.body.items, ...rest.body.items].map((i: any) => i.sequenceNumber);
    assert.deepEqual(
      sequences,
      [...sequences].sort((a, b) => a - b),
    );

    for (const [query, message] of [
      ['limit=1001', 'limit cannot exceed 1000'],
      ['limit=0', 'limit must be a positive integer'],
      ['limit=abc', 'limit must be a positive integer'],
      ['cursor=-1', 'cursor must be a non-negative integer'],
    ]) {
      const res = await getJson(`${broker.url}/stream?${query}`);
      assert.equal(res.status, 400, query);
      assert.equal(res.body.error.message, message);
    }
  });

  it('DELETE hides every stored chunk from the upstream views; new chunks show again', async () => {
    const purged = await fetch(`${broker.url}/stream`, { method: 'DELETE' });
    assert.equal(purged.status, 200);
    assert.deepEqual(await purged.json(), { status: 'success', message: 'Stream data purged' });
    assert.deepEqual((await getJson(`${broker.url}/stream`)).body, { items: [], total: 0, hasMore: false });
    assert.equal((await postJson(`${broker.url}/stream/p1/complete`, {})).status, 404);
    const replay = await SseReader.open(`${broker.url}/stream/w1?from-beginning=true&wait-for-query=1`);
    await replay.ended;
    assert.deepEqual(replay.data, [TIMEOUT_CHUNK, '[DONE]']);
    const { rows } = await broker.sql.query(`SELECT count(*)::int AS n FROM events WHERE source = 'chunk'`);
    assert.equal(rows[0].n, 5, 'the event log keeps everything');

    await postBody(`${broker.url}/stream/w1`, ndjson([chunk(9)]));
    assert.deepEqual((await postJson(`${broker.url}/stream/w1/complete`, {})).body, { status: 'completed', query: 'w1' });
    const page = await getJson(`${broker.url}/stream`);
    assert.deepEqual(
      page.body.items.map((i: any) => i.data.chunk),
      [chunk(9), '[DONE]'],
    );
  });

  it('waits out a full write queue instead of failing: concurrent big uploads all commit, in order', async () => {
    const writer = broker.app.get(GroupCommitWriter);
    const append = writer.append.bind(writer);
    let refused = 0;
    writer.append = (items) =>
      append(items).catch((error: unknown) => {
        if (error instanceof WriteQueueFullError) refused++;
        throw error;
      });
    const queries = ['bp-0', 'bp-1', 'bp-2', 'bp-3'];
    const answers = await Promise.all(queries.map((q) => postBody(`${broker.url}/stream/${q}`, ndjson(Array.from({ length: 5_000 }, (_, i) => chunk(i))))));
    assert.deepEqual(
      answers.map((a) => [a.status, a.body.chunks_received]),
      queries.map(() => [200, 5_000]),
    );
    assert.ok(refused > 0, 'the write queue was full at times');
    writer.append = append;
    for (const q of queries) {
      const { rows } = await broker.sql.query(
        `SELECT (data->'chunk'->>'n')::int AS n FROM events WHERE query_name = $1 AND source = 'chunk' ORDER BY transaction_id, global_position`,
        [q],
      );
      assert.deepEqual(
        rows.map((r) => r.n),
        Array.from({ length: 5_000 }, (_, i) => i),
      );
    }
  });
});
