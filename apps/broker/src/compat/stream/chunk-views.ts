import type { ArkEvent } from '#ark/event-store';
import type { StoredChunk } from './chunk-stream.repository.js';

/** The end of an upstream chunk stream, sent verbatim (not as JSON). */
export const DONE = '[DONE]';

/** What upstream writes when `wait-for-query` elapses before the first chunk. */
export const WAIT_TIMEOUT_CHUNK = JSON.stringify({
  error: { message: 'Request timeout waiting for streaming query response', type: 'timeout_error', code: 'timeout' },
});

const STREAM_COMPLETED = 'llm.stream.completed';

const chunkOf = (data: unknown): unknown => (data as { chunk?: unknown }).chunk;

/** Upstream's error chunk: an object with a truthy `error`. */
export const isErrorChunk = (chunk: unknown): boolean => typeof chunk === 'object' && chunk !== null && Boolean((chunk as { error?: unknown }).error);

/** Upstream's stored item (`GET /stream` pages); a completion is its `[DONE]` marker item. */
export function chunkItem(stored: StoredChunk): { sequenceNumber: number; timestamp: string; data: { queryId: string; chunk: unknown; complete?: true } } {
  const completed = stored.type === STREAM_COMPLETED;
  return {
    sequenceNumber: stored.globalPosition,
    timestamp: stored.recordedAt.toISOString(),
    data: completed ? { queryId: stored.queryId, chunk: DONE, complete: true } : { queryId: stored.queryId, chunk: chunkOf(stored.data) },
  };
}

/** `GET /stream?watch=true` frames: the bare chunk; a completion as the JSON string `"[DONE]"`. */
export const tenantStreamFrame = (event: ArkEvent): unknown => (event.type === STREAM_COMPLETED ? DONE : chunkOf(event.data));

/** What `GET /stream/:query` shows of a chunk: not a string (upstream never writes a string chunk live). */
export const isObjectChunk = (chunk: unknown): boolean => typeof chunk !== 'string';

/** `GET /stream/:query` frames: object chunks only. */
export function queryStreamFrame(event: ArkEvent): unknown {
  if (event.type === STREAM_COMPLETED) return undefined;
  const chunk = chunkOf(event.data);
  return isObjectChunk(chunk) ? chunk : undefined;
}

/** The index of a stored chunk line, the key its live copy had (LiveChunkRelay). */
export function chunkIndexOf(event: ArkEvent): number | undefined {
  const index = (event.data as { index?: unknown }).index;
  return event.source === 'chunk' && typeof index === 'number' ? index : undefined;
}

/** `GET /stream/:query` ends with `[DONE]` at the completion, and after an error chunk. */
export const queryStreamEnd = (event: ArkEvent): readonly string[] | undefined =>
  event.type === STREAM_COMPLETED || isErrorChunk(chunkOf(event.data)) ? [DONE] : undefined;
