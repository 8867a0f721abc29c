import { Injectable } from '@nestjs/common';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { MalformedInputError } from '#ark/errors';
import { jsonNestsDeeperThan } from '#ark/http';
import { EventAppender, LLM_CHUNK, UnstorableEventsError, WriteQueueFullError, type SessionEvent } from '#ark/event-store';
import { chunkDedupeKey, normalizeChunk } from '#ark/normalizer';
import { ShutdownSignal } from '#ark/shutdown';
import type { CallerIdentity } from '#ark/tenancy';
import { bodyReads } from './body-reads.js';
import { ChunkIndexAllocator, type ChunkIndexLease } from './chunk-index-allocator.js';
import { isErrorChunk, isObjectChunk } from './chunk-views.js';
import { LiveChunkRelay, type LiveChunk } from './live-chunk-relay.js';
import { NdjsonLineSplitter, OVERLONG_LINE, type NdjsonLine } from './ndjson-line-splitter.js';

/** Longest line stored; a longer one is skipped and counted in `skipped_lines`. */
export const MAX_LINE_BYTES = 1024 * 1024;
/**
 * Lines per append call. The group-commit writer merges the calls of concurrent uploads into one
 * transaction, so small batches still make big transactions; a batch is parsed JSON until it
 * commits, which is what an upload costs in memory, times hundreds of uploads.
 */
const MAX_BATCH_LINES = 128;
/** Read-ahead (raw line text) while a batch commits: past either bound the upload stops reading its body. */
const MAX_PENDING_LINES = 256;
const MAX_PENDING_CHARS = 64 * 1024;
/** How long a full write queue is waited out (body unread, so the producer slows down) before 503. */
const QUEUE_FULL_PATIENCE_MS = 30_000;
/** JSON escapes `jsonb` refuses: `\u0000`, and surrogates (refused when unpaired). */
const REFUSED_ESCAPE = /\\u(?:0000|[dD][89a-fA-F])/;

export interface ChunkUploadTarget {
  caller: CallerIdentity;
  queryId: string;
  /** The producer's `Idempotency-Key`: resending the same body with it stores nothing new. */
  idempotencyKey?: string;
}

export interface ChunkUploadResult {
  /** Lines stored (or already stored, for a resent upload). */
  chunksReceived: number;
  /** Lines that were valid JSON but not stored: longer than MAX_LINE_BYTES, or refused by PostgreSQL (e.g. `\u0000`). */
  skippedLines: number;
  /**
   * The broker is shutting down and stopped reading before the body ended: every complete line read
   * so far is committed and counted, the rest was not read. The producer sends the rest on a new
   * request (to another replica), like a producer that streams one request per batch.
   */
  interrupted: boolean;
}

/**
 * One upload's write side. Each line is parsed as it is read, takes the query's next index and, if
 * it is a plain token chunk, goes to this replica's live readers at once (LiveChunkRelay). Lines are
 * appended in batches, one batch in flight at a time, so batch k+1 never commits before batch k and
 * the query's chunks keep the body's order. Lines read while a batch commits wait in `pending`;
 * once it holds MAX_PENDING_* (counted in line text) the reader stops reading the body (`room()`),
 * which pushes back on the producer through TCP. Memory per upload is thus bounded by the batch in
 * flight, the read-ahead bound plus one network read, and one partial line.
 */
class ChunkUpload {
  private pending: { item: SessionEvent; chars: number }[] = [];
  private pendingChars = 0;
  private committing: Promise<void> | undefined;
  private roomWaiter: (() => void) | undefined;
  private jsonLines = 0;
  private stored = 0;
  private skipped = 0;
  failure: unknown;

  constructor(
    private readonly target: ChunkUploadTarget,
    private readonly indexes: ChunkIndexLease,
    private readonly append: (items: SessionEvent[]) => Promise<unknown>,
    private readonly relay: (chunk: LiveChunk) => void,
  ) {}

  get failed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Parses a line in body order, so indexes and Idempotency-Key line numbers follow it. Sent live:
   * plain token chunks (objects: a reader shows no other). Not an approval or an error chunk (each
   * ends or changes the stream: only once stored), not a line sent with an Idempotency-Key (a
   * resent one stores nothing, so its new index would be a chunk readers never see committed), not
   * a line PostgreSQL may refuse (REFUSED_ESCAPE).
   */
  add(line: NdjsonLine): void {
    if (this.failed) return;
    if (line === OVERLONG_LINE) {
      this.skipped++;
      return;
    }
    let chunk: unknown;
    try {
      chunk = JSON.parse(line);
    } catch {
      return; // like upstream: an unparseable line is skipped and not counted
    }
    if (jsonNestsDeeperThan(chunk)) {
      this.skipped++; // parses, but cannot be stored: skipped and counted like an overlong line
      return;
    }
    const { queryId, idempotencyKey } = this.target;
    const lineNumber = this.jsonLines++;
    const dedupeKey = idempotencyKey === undefined ? undefined : chunkDedupeKey(queryId, idempotencyKey, lineNumber);
    const index = this.indexes.take();
    const item = normalizeChunk({ queryId, chunk, index, dedupeKey });
    this.pending.push({ item, chars: line.length });
    this.pendingChars += line.length;
    if (dedupeKey === undefined && item.event.type === LLM_CHUNK && isObjectChunk(chunk) && !isErrorChunk(chunk) && !REFUSED_ESCAPE.test(line)) {
      this.relay({ index, chunk });
    }
  }

  /** Starts committing what was added, unless a batch is in flight (it takes the rest when it is done). */
  commit(): void {
    if (this.pending.length === 0 || this.committing) return;
    // Cleared in a `.finally` callback, which always runs after this assignment, so a batch that
    // completes synchronously cannot leave `committing` set for ever (finish() would spin).
    const run = this.commitPending().finally(() => {
      if (this.committing === run) this.committing = undefined;
      this.wakeReader();
    });
    this.committing = run;
  }

  /** Resolves when the reader may read on: there is room, or writing failed. */
  room(): Promise<void> {
    if (!this.isFull || this.failed) return Promise.resolve();
    return new Promise((resolve) => (this.roomWaiter = resolve));
  }

  /** Waits for every line added to commit; throws what made writing fail. */
  async finish(): Promise<ChunkUploadResult> {
    this.commit();
    while (this.committing) await this.committing;
    if (this.failed) throw this.failure;
    return { chunksReceived: this.stored, skippedLines: this.skipped, interrupted: false };
  }

  private get isFull(): boolean {
    return this.pending.length >= MAX_PENDING_LINES || this.pendingChars >= MAX_PENDING_CHARS;
  }

  private async commitPending(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, MAX_BATCH_LINES);
        for (const line of batch) this.pendingChars -= line.chars;
        this.wakeReader();
        await this.appendStorable(batch.map((line) => line.item));
      }
    } catch (error) {
      this.failure = error;
      this.pending = [];
    }
  }

  /**
   * A batch PostgreSQL refuses for its data (it committed nothing) is split to find the refused
   * lines; the others are stored, still in order. Rare, so the extra transactions do not matter.
   */
  private async appendStorable(items: SessionEvent[]): Promise<void> {
    try {
      await this.append(items);
      this.stored += items.length;
    } catch (error) {
      if (!(error instanceof UnstorableEventsError)) throw error;
      if (items.length === 1) {
        this.skipped++;
        return;
      }
      const half = items.length >> 1;
      await this.appendStorable(items.slice(0, half));
      await this.appendStorable(items.slice(half));
    }
  }

  private wakeReader(): void {
    if (this.isFull && !this.failed) return;
    this.roomWaiter?.();
    this.roomWaiter = undefined;
  }
}

/** Reads a `POST /stream/:query` body as a stream of NDJSON lines and appends them as chunk events. */
@Injectable()
export class ChunkUploadService {
  constructor(
    private readonly appender: EventAppender,
    private readonly allocator: ChunkIndexAllocator,
    private readonly shutdown: ShutdownSignal,
    private readonly relay: LiveChunkRelay,
  ) {}

  /** Resolves once every line of the body is committed (a 2xx means durable). */
  async upload(body: Readable, target: ChunkUploadTarget): Promise<ChunkUploadResult> {
    const indexes = await this.allocator.open({ tenantId: target.caller.tenantId }, target.queryId);
    try {
      const upload = new ChunkUpload(
        target,
        indexes,
        (items) => this.appendWaitingForRoom(target, items),
        (chunk) => this.relay.publish(target.caller.tenantId, target.queryId, chunk),
      );
      const lines = new NdjsonLineSplitter(MAX_LINE_BYTES);
      try {
        // Leaving early (a failed write, shutdown) must not destroy the request, and with it the
        // socket the answer goes out on: bodyReads just stops reading.
        for await (const data of bodyReads(body, this.shutdown.signal)) {
          // A network read is queued whole before a batch starts, so it is not cut into one-line batches.
          for (const line of lines.push(data)) upload.add(line);
          upload.commit();
          await upload.room();
          if (upload.failed) break;
        }
        // On shutdown the partial line after the last newline is dropped: it is not acknowledged.
        if (this.shutdown.draining && !body.readableEnded) return { ...(await upload.finish()), interrupted: true };
        for (const line of lines.end()) upload.add(line);
      } catch {
        // The body broke off (the client went away): keep the complete lines read so far, drop the
        // partial one. Nobody is left to answer.
        await upload.finish();
        throw new MalformedInputError('the request body ended abruptly');
      }
      return await upload.finish();
    } finally {
      indexes.release();
    }
  }

  /** A full write queue is backpressure, not an error: wait (not reading the body) and retry. */
  private async appendWaitingForRoom(target: ChunkUploadTarget, items: SessionEvent[]): Promise<void> {
    const giveUpAt = Date.now() + QUEUE_FULL_PATIENCE_MS;
    for (let delayMs = 5; ; delayMs = Math.min(delayMs * 2, 500)) {
      try {
        await this.appender.append(target.caller, items);
        return;
      } catch (error) {
        if (!(error instanceof WriteQueueFullError) || Date.now() >= giveUpAt) throw error;
        await sleep(delayMs);
      }
    }
  }
}
