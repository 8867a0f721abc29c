import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { spawnBroker, startBalancer, type BrokerProcess } from './support/broker-process.js';
import { RecordingEventSource, sleep } from './support/sse-client.js';
import { startTestBroker, type TestBroker } from './support/test-broker.js';

const SESSION = 'session-sigterm';
const QUERY = 'query-sigterm';
const GRACE_MS = 8_000;

const chunkLine = (i: number) => `${JSON.stringify({ choices: [{ index: 0, delta: { content: `t${i} ` } }], ark: { session: SESSION, query: QUERY } })}\n`;

/** A producer streaming `lines` NDJSON lines, one every `intervalMs`, as one long chunked POST. */
function streamChunks(url: string, lines: number[], intervalMs: number): Promise<{ status: number; body: any; sentLines: number }> {
  return new Promise((resolve, reject) => {
    let sentLines = 0;
    let answered = false;
    const request = http.request(`${url}/stream/${QUERY}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } }, (response) => {
      let text = '';
      response.on('data', (d: Buffer) => (text += d.toString()));
      response.on('end', () => {
        answered = true;
        resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, sentLines });
      });
    });
    // After an early answer the server closes the connection: writes after it fail, as for any
    // producer whose broker went away. The answer says what was stored.
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    let i = 0;
    const next = () => {
      if (answered || request.destroyed) return;
      if (i >= lines.length) return void request.end();
      request.write(chunkLine(lines[i++]!));
      sentLines = i;
      setTimeout(next, intervalMs);
    };
    next();
  });
}

describe('SIGTERM during a 30 s chunk upload and open watches', () => {
  let b: TestBroker;
  let a: BrokerProcess;
  before(async () => {
    b = await startTestBroker();
    a = await spawnBroker(b.database.url, { SHUTDOWN_GRACE_MS: String(GRACE_MS), SSE_RETRY_MS: '200' });
  });
  after(async () => {
    a?.child.kill('SIGKILL');
    await b?.close();
  });

  it('exits cleanly inside the grace period; the upload commits what it read and answers; watchers resume on the other replica without loss', async (t) => {
    // The "Service": connections go to A while it listens, then to B.
    const service = await startBalancer([a.url, b.url]);
    // Set before anything can fail, so a failed assertion stops the writer instead of leaving it retrying for ever.
    let writing = true;
    const sessionWatch = new RecordingEventSource(`${service.url}/v2/sessions/${SESSION}/events?watch=true`);
    const feedWatch = new RecordingEventSource(`${service.url}/v2/events?watch=true`);
    try {
      await Promise.all([sessionWatch.opened, feedWatch.opened]);

      // A second producer posts events to the same session all along, retrying failures with the same dedupe key.
      let posted = 0;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          for (const giveUpAt = Date.now() + 60_000; ;) {
            if (!writing && Date.now() > giveUpAt) throw new Error(`tick ${i} was not accepted within 60 s`);
            const ok = await fetch(`${service.url}/v2/events`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ sessionId: SESSION, type: 'custom.tick', dedupeKey: `tick-${i}`, data: { i } }),
            }).then(
              (r) => r.status === 201,
              () => false,
            );
            if (ok) break;
            await sleep(20);
          }
          posted++;
          await sleep(25);
        }
      })();

      // 1,500 lines at one per 20 ms: a 30 s upload, sent to A (through the Service).
      const total = 1_500;
      const upload = streamChunks(
        service.url,
        Array.from({ length: total }, (_, i) => i),
        20,
      );
      await sleep(3_000);
      const termAt = Date.now();
      a.child.kill('SIGTERM');
      const first = await upload;
      const answeredAfterMs = Date.now() - termAt;
      const exit = await a.exited;
      const exitedAfterMs = Date.now() - termAt;

      t.diagnostic(`upload answered ${answeredAfterMs} ms and process exited ${exitedAfterMs} ms after SIGTERM`);
      assert.deepEqual(exit, { code: 0, signal: null }, a.output());
      assert.ok(exitedAfterMs < GRACE_MS, `exited ${exitedAfterMs} ms after SIGTERM (grace ${GRACE_MS} ms)`);
      assert.ok(answeredAfterMs < 2_000, `the upload was answered ${answeredAfterMs} ms after SIGTERM, not after its 30 s`);
      assert.equal(first.status, 200);
      assert.equal(first.body.status, 'stream_processed');
      const received = first.body.chunks_received as number;
      assert.ok(received > 50 && received < total, `a part of the upload was committed (${received} lines)`);
      assert.ok(received <= first.sentLines);

      // The producer sends the rest to the Service, which now reaches B.
      const rest = await streamChunks(
        service.url,
        Array.from({ length: total - received }, (_, i) => received + i),
        0,
      );
      assert.equal(rest.status, 200);
      assert.equal(rest.body.chunks_received, total - received);

      await sleep(300);
      writing = false;
      await writer;

      // Every chunk exactly once, in body order.
      const { rows: chunks } = await b.sql.query<{ content: string }>(
        "SELECT data->'chunk'->'choices'->0->'delta'->>'content' AS content FROM events WHERE type = 'llm.chunk' AND query_name = $1 ORDER BY sequence",
        [QUERY],
      );
      assert.deepEqual(
        chunks.map((c) => c.content),
        Array.from({ length: total }, (_, i) => `t${i} `),
      );

      // The session watcher saw 1..N once each, across the replica change.
      const { rows: head } = await b.sql.query<{ n: number; max: number }>(
        'SELECT count(*)::int AS n, max(sequence)::int AS max FROM events WHERE session_id = $1',
        [SESSION],
      );
      assert.equal(head[0]!.n, head[0]!.max);
      assert.equal(head[0]!.n, total + posted);
      const seen = await sessionWatch.waitFor(head[0]!.n, 20_000);
      await sleep(300);
      assert.deepEqual(
        seen.map((m) => m.data.sequence),
        Array.from({ length: head[0]!.n }, (_, i) => i + 1),
      );

      // The tenant feed watcher saw every event of the log once.
      const { rows: all } = await b.sql.query<{ global_position: string }>('SELECT global_position FROM events ORDER BY transaction_id, global_position');
      const feed = await feedWatch.waitFor(all.length, 20_000);
      await sleep(300);
      assert.deepEqual(
        feed.map((m) => String(m.data.globalPosition)),
        all.map((r) => r.global_position),
      );
    } finally {
      writing = false;
      sessionWatch.close();
      feedWatch.close();
      await service.close();
    }
  });
});
