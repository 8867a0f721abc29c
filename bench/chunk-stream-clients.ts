import { request, type Agent, type ClientRequest, type IncomingMessage } from 'node:http';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { excerpt } from './closed-loop.js';
import type { RunNotes } from './scenario.js';

/** Lines written in one go before the producer lets the event loop (readers, other producers) run. */
const BURST_LINES = 64;
const TOKENS = ['Hello', ' there', ',', ' the', ' weather', ' in', ' Paris', ' is', ' sunny', ' today', '.', ' Enjoy', '!'];
/** Upstream's GET /stream/:query flushes no headers before the first chunk: after this long without an answer, the reader is taken as subscribed. */
const HEADERLESS_GRACE_MS = 2_000;
/**
 * How long an ended upload may take to be answered. Unpaced, the body still buffered in the two
 * sockets when the producer stops (several MB per stream) is committed in that time.
 */
const UPLOAD_ANSWER_TIMEOUT_MS = 60_000;

/** The clock both sides read: one process, so producer and reader stamps compare. */
export const now = (): number => performance.timeOrigin + performance.now();

export class RouteUnavailableError extends Error {}

/** A chunk as the harness sends it: an OpenAI `chat.completion.chunk`, plus its sequence and send time in `bench`. */
interface BenchStamp {
  seq: number;
  sentAt: number;
}

/**
 * One chunk stream's producer: ONE long chunked `POST /stream/<query>` (`application/x-ndjson`),
 * lines written as the body, honouring `write()` returning false (it waits for 'drain').
 */
export class ChunkProducer {
  sent = 0;
  /** Set when the broker answered before the body ended (an error), or the request failed. */
  failure: string | undefined;
  private readonly request: ClientRequest;
  private readonly answer: Promise<{ status: number; body: string }>;
  private readonly created = Math.floor(Date.now() / 1000);
  /** finish() was called: an answer from now on is the expected one. */
  private ending = false;

  constructor(
    baseUrl: string,
    readonly queryId: string,
    private readonly streamIndex: number,
    agent: Agent,
  ) {
    const url = new URL(`${baseUrl}/stream/${encodeURIComponent(queryId)}`);
    this.request = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' } });
    this.request.setNoDelay(true);
    this.answer = new Promise((resolve, reject) => {
      this.request.once('response', (response: IncomingMessage) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (data: string) => (body += data));
        response.once('end', () => resolve({ status: response.statusCode ?? 0, body }));
        response.once('error', reject);
        if (!this.ending) this.failure ??= `answered HTTP ${response.statusCode} before the body ended`;
      });
      this.request.once('error', (error) => {
        this.failure ??= error.message;
        reject(error);
      });
    });
    // Handled in finish(); this only keeps an early failure from being an unhandled rejection.
    this.answer.catch(() => undefined);
    this.request.flushHeaders();
  }

  /** As fast as backpressure allows until `deadline` (performance.now() time) or `maxChunks` sent. */
  async produceUnpaced(deadline: number, maxChunks: number): Promise<void> {
    while (performance.now() < deadline && this.sent < maxChunks && this.failure === undefined) {
      let full = false;
      for (let i = 0; i < BURST_LINES && !full && this.sent < maxChunks; i++) full = !this.writeLine();
      if (full) await this.drained(deadline);
      else await yieldToLoop();
    }
  }

  /** One line every `intervalMs`, the first at `firstAt` (performance.now() time), until `deadline`. */
  async producePaced(firstAt: number, intervalMs: number, deadline: number): Promise<void> {
    for (let at = firstAt; at < deadline && this.failure === undefined; at += intervalMs) {
      const wait = at - performance.now();
      if (wait > 0) await sleep(wait);
      // Not waiting for 'drain': the schedule is the producer's, as an LLM's would be.
      this.writeLine();
    }
  }

  /** Ends the body and reads the answer: `200 {"status":"stream_processed","chunks_received":<sent>}` or a failure text. */
  async finish(): Promise<string | undefined> {
    this.ending = true;
    this.request.end();
    let answer: { status: number; body: string } | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      answer = await Promise.race([this.answer, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), UPLOAD_ANSWER_TIMEOUT_MS)))]);
    } catch (error) {
      return this.failure ?? (error as Error).message;
    } finally {
      clearTimeout(timer);
    }
    if (answer === undefined) {
      this.request.destroy();
      return `no answer within ${UPLOAD_ANSWER_TIMEOUT_MS / 1000} s after the body ended`;
    }
    if (answer.status === 404 || answer.status === 405)
      throw new RouteUnavailableError(`POST /stream/:query answered HTTP ${answer.status}: ${excerpt(answer.body)}`);
    if (this.failure !== undefined) return `${this.failure}: ${excerpt(answer.body)}`;
    if (answer.status !== 200) return `HTTP ${answer.status}: ${excerpt(answer.body)}`;
    let parsed: { status?: unknown; query?: unknown; chunks_received?: unknown };
    try {
      parsed = JSON.parse(answer.body) as typeof parsed;
    } catch {
      return `200 with a body that is not JSON: ${excerpt(answer.body)}`;
    }
    if (parsed.status !== 'stream_processed' || parsed.query !== this.queryId || parsed.chunks_received !== this.sent) {
      return `expected stream_processed with ${this.sent} chunks, got ${excerpt(answer.body)}`;
    }
    return undefined;
  }

  private writeLine(): boolean {
    const seq = this.sent++;
    const token = TOKENS[(seq + this.streamIndex) % TOKENS.length]!;
    const stamp: BenchStamp = { seq, sentAt: now() };
    return this.request.write(
      `{"id":"chatcmpl-${this.streamIndex}","object":"chat.completion.chunk","created":${this.created},"model":"gpt-4o",` +
        `"choices":[{"index":0,"delta":{"content":${JSON.stringify(token)}},"finish_reason":null}],"bench":{"seq":${stamp.seq},"sentAt":${stamp.sentAt}}}\n`,
    );
  }

  /** Resolves on 'drain', or when waiting is pointless: the request failed, was answered, or time is up. */
  private drained(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.request.off('drain', done).off('close', done).off('response', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(deadline - performance.now(), 0));
      this.request.once('drain', done).once('close', done).once('response', done);
    });
  }
}

/**
 * One SSE reader of `GET /stream/<query>` (from-beginning=false), checking that chunks arrive once,
 * in order (by `bench.seq`), then `data: [DONE]` and the end of the response.
 */
export class ChunkReader {
  received = 0;
  /** The next sequence expected. */
  expected = 0;
  duplicates = 0;
  /** Sequences jumped over. */
  skipped = 0;
  afterDone = 0;
  done = false;
  ended = false;
  failure: string | undefined;
  readonly opened: Promise<void>;
  readonly finished: Promise<void>;
  private response: IncomingMessage | undefined;
  private readonly request: ClientRequest;
  private pending = '';

  constructor(
    baseUrl: string,
    readonly queryId: string,
    agent: Agent,
    private readonly latenciesMs: number[],
    private readonly notes: RunNotes,
  ) {
    const url = new URL(`${baseUrl}/stream/${encodeURIComponent(queryId)}?from-beginning=false`);
    this.request = request(url, { method: 'GET', agent, headers: { accept: 'text/event-stream' } });
    let resolveFinished: () => void = () => undefined;
    this.finished = new Promise((resolve) => (resolveFinished = resolve));
    this.opened = new Promise((resolve, reject) => {
      const grace = setTimeout(() => {
        notes.add(
          `reader of ${queryId}: no answer headers within ${HEADERLESS_GRACE_MS} ms (upstream flushes none before the first chunk): taken as subscribed`,
        );
        resolve();
      }, HEADERLESS_GRACE_MS);
      this.request.once('response', (response) => {
        clearTimeout(grace);
        this.response = response;
        const type = String(response.headers['content-type'] ?? '');
        if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (data: string) => (body += data));
          response.once('end', () => {
            const text = `GET /stream/:query answered HTTP ${response.statusCode} (${type}): ${excerpt(body)}`;
            reject(response.statusCode === 404 || response.statusCode === 405 ? new RouteUnavailableError(text) : new Error(text));
            resolveFinished();
          });
          return;
        }
        response.setEncoding('utf8');
        response.on('data', (data: string) => this.receive(data));
        response.once('end', () => {
          this.ended = true;
          resolveFinished();
        });
        response.once('error', (error) => this.fail(error.message, resolveFinished));
        response.once('close', () => resolveFinished());
        resolve();
      });
      this.request.once('error', (error) => {
        clearTimeout(grace);
        this.fail(error.message, resolveFinished);
        reject(error);
      });
    });
    this.opened.catch(() => undefined);
    this.request.end();
  }

  close(): void {
    this.request.destroy();
    this.response?.destroy();
  }

  private fail(message: string, finish: () => void): void {
    if (!this.done) {
      this.failure ??= message;
      this.notes.add(`reader of ${this.queryId}: ${message}`);
    }
    finish();
  }

  private receive(data: string): void {
    const receivedAt = now();
    this.pending += data;
    let start = 0;
    for (let end = this.pending.indexOf('\n\n', start); end !== -1; end = this.pending.indexOf('\n\n', start)) {
      this.frame(this.pending.slice(start, end), receivedAt);
      start = end + 2;
    }
    this.pending = this.pending.slice(start);
  }

  private frame(frame: string, receivedAt: number): void {
    for (const line of frame.split('\n')) {
      if (!line.startsWith('data:')) continue;
      const data = line.slice(line[5] === ' ' ? 6 : 5);
      if (data === '[DONE]') {
        this.done = true;
        continue;
      }
      if (this.done) {
        this.afterDone++;
        continue;
      }
      let stamp: BenchStamp | undefined;
      try {
        stamp = (JSON.parse(data) as { bench?: BenchStamp }).bench;
      } catch {
        // counted below
      }
      if (typeof stamp?.seq !== 'number' || typeof stamp.sentAt !== 'number') {
        this.notes.add(`reader of ${this.queryId}: unexpected frame ${excerpt(data)}`);
        this.duplicates++;
        continue;
      }
      if (stamp.seq < this.expected) {
        this.duplicates++;
        this.notes.add(`reader of ${this.queryId}: chunk ${stamp.seq} again (or late) after ${this.expected - 1}`);
        continue;
      }
      if (stamp.seq > this.expected) {
        this.skipped += stamp.seq - this.expected;
        this.notes.add(`reader of ${this.queryId}: jumped from chunk ${this.expected - 1} to ${stamp.seq}`);
      }
      this.expected = stamp.seq + 1;
      this.received++;
      this.latenciesMs.push(receivedAt - stamp.sentAt);
    }
  }
}
