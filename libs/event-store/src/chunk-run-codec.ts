import type { ArkEvent } from './ark-event.js';
import { LLM_CHUNK } from './event-types.js';

/**
 * Compaction (docs/architecture.md#compaction): a finished run of `llm.chunk` events folded into one
 * `llm_completions` row that gives back every chunk event the views read, exactly: its chunk, index,
 * session, sequence, feed cursor and times. What all chunks of a run share is kept once; each chunk
 * is one small array of differences from the chunk before it.
 */

/** What every chunk of a run shares (the run is not compacted when they differ). */
export interface ChunkRunHeader {
  tenantId: string;
  sessionId: string;
  /** The upload path's query (`query_name`). */
  queryName: string;
  /** `ark.query` of the chunks (`query_id`, Ark's query UID); null when they name none. */
  run: string | null;
  namespace: string | null;
  userId: string | null;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
}

/**
 * One chunk: [Δtransaction id, Δglobal position, Δsequence, Δtime µs, Δindex, body] (Δ from the chunk
 * before; the first from 0), and recorded_at − time in µs when they differ. body: a string is a
 * content delta (`choices: [{index: 0, delta: {content}, finish_reason: null}]`) with the previous
 * chunk's other fields; `{r}` the previous chunk's fields but choices and usage, plus these; `{f}`
 * the whole chunk.
 */
type ChunkBody = string | { r: Record<string, unknown> } | { f: unknown };
export type EncodedChunk = [number, number, number, number, number, ChunkBody] | [number, number, number, number, number, ChunkBody, number];

/** The stored form: `llm_completions.chunks`. */
export interface EncodedChunkRun {
  v: 1;
  /** Microseconds since the epoch of the first chunk's time. */
  t0: string;
  rows: EncodedChunk[];
}

/** A stored chunk event as the compactor reads it: the times in microseconds, the transaction id as text. */
export interface RawChunkRow {
  transactionId: string;
  globalPosition: number;
  sequence: number;
  timeUs: bigint;
  recordedUs: bigint;
  index: number;
  chunk: unknown;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const OWN = new Set(['choices', 'usage']);

/** A chunk's fields but choices and usage: what consecutive chunks of one completion share. */
function envelope(chunk: Json): Json {
  return Object.fromEntries(Object.entries(chunk).filter(([k]) => !OWN.has(k)));
}

/** The content text of a chunk that is exactly one content delta, else undefined. */
function contentOnly(chunk: Json): string | undefined {
  if ('usage' in chunk || !Array.isArray(chunk.choices) || chunk.choices.length !== 1) return undefined;
  const choice = chunk.choices[0] as unknown;
  if (!isObject(choice) || Object.keys(choice).length !== 3 || choice.index !== 0 || choice.finish_reason !== null) return undefined;
  const delta = choice.delta;
  if (!isObject(delta) || Object.keys(delta).length !== 1 || typeof delta.content !== 'string') return undefined;
  return delta.content;
}

/**
 * The order jsonb gives an object's keys (shorter first, then bytewise), applied all the way down: a
 * chunk rebuilt here must serialise exactly as the stored one read back did.
 */
function jsonbOrder(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonbOrder);
  if (!isObject(value)) return value;
  const keys = Object.keys(value).sort((a, b) => {
    const [x, y] = [Buffer.from(a), Buffer.from(b)];
    return x.length - y.length || Buffer.compare(x, y);
  });
  return Object.fromEntries(keys.map((k) => [k, jsonbOrder(value[k])]));
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * A time in microseconds as node-postgres reads a timestamptz: whole seconds, then the fraction as
 * PostgreSQL prints it, parsed as a float and truncated to milliseconds (postgres-date), so a
 * rebuilt event's Date is the stored one's to the millisecond.
 */
function dateOf(us: bigint): Date {
  const fraction = Number(((us % 1_000_000n) + 1_000_000n) % 1_000_000n);
  const seconds = (us - BigInt(fraction)) / 1_000_000n;
  const digits = String(fraction).padStart(6, '0').replace(/0+$/, '');
  return new Date(Number(seconds) * 1000 + Math.trunc(digits === '' ? 0 : 1000 * parseFloat(`0.${digits}`)));
}

/** The stored form of a run's chunks, in log order. */
export function encodeChunkRun(rows: readonly RawChunkRow[]): EncodedChunkRun {
  const t0 = rows[0]?.timeUs ?? 0n;
  let prev = { tx: 0n, pos: 0, seq: 0, time: t0, index: 0, envelope: undefined as Json | undefined };
  const out: EncodedChunk[] = [];
  for (const r of rows) {
    const tx = BigInt(r.transactionId);
    let body: ChunkBody;
    const env = isObject(r.chunk) ? envelope(r.chunk) : undefined;
    if (isObject(r.chunk) && env && prev.envelope && same(env, prev.envelope)) {
      const content = contentOnly(r.chunk);
      body = content ?? { r: Object.fromEntries(Object.entries(r.chunk).filter(([k]) => OWN.has(k))) };
    } else {
      body = { f: r.chunk };
    }
    const row: EncodedChunk = [
      Number(tx - prev.tx),
      r.globalPosition - prev.pos,
      r.sequence - prev.seq,
      Number(r.timeUs - prev.time),
      r.index - prev.index,
      body,
    ];
    if (r.recordedUs !== r.timeUs) row.push(Number(r.recordedUs - r.timeUs));
    out.push(row);
    prev = { tx, pos: r.globalPosition, seq: r.sequence, time: r.timeUs, index: r.index, envelope: env };
  }
  return { v: 1, t0: t0.toString(), rows: out };
}

/** The chunk events a stored run stands for, in log order, as the log would answer them. */
export function decodeChunkRun(header: ChunkRunHeader, run: EncodedChunkRun, expiresAt: Date): ArkEvent[] {
  let tx = 0n;
  let pos = 0;
  let seq = 0;
  let time = BigInt(run.t0);
  let index = 0;
  let env: Json | undefined;
  const events: ArkEvent[] = [];
  for (const [dTx, dPos, dSeq, dTime, dIndex, body, recordedLag] of run.rows) {
    tx += BigInt(dTx);
    pos += dPos;
    seq += dSeq;
    time += BigInt(dTime);
    index += dIndex;
    let chunk: unknown;
    if (typeof body === 'string') chunk = jsonbOrder({ ...env, choices: [{ index: 0, delta: { content: body }, finish_reason: null }] });
    else if ('r' in body) chunk = jsonbOrder({ ...env, ...body.r });
    else chunk = body.f;
    env = isObject(chunk) ? envelope(chunk) : undefined;
    const at = dateOf(time);
    const data = { chunk, index };
    events.push({
      tenantId: header.tenantId,
      sessionId: header.sessionId,
      sequence: seq,
      globalPosition: pos,
      transactionId: tx.toString(),
      type: LLM_CHUNK,
      time: at,
      recordedAt: recordedLag === undefined ? at : dateOf(time + BigInt(recordedLag)),
      queryId: header.run,
      queryName: header.queryName,
      namespace: header.namespace,
      userId: header.userId,
      traceId: header.traceId,
      spanId: header.spanId,
      parentSpanId: header.parentSpanId,
      source: 'chunk',
      dedupeKey: null,
      data,
      expiresAt,
      dataBytes: Buffer.byteLength(JSON.stringify(data)),
    });
  }
  return events;
}
