import { FEED_START, LLM_CHUNK, LLM_STREAM_COMPLETED, toArkEventJson, type ArkEvent } from '#ark/event-store';

/** Ends a query's completion view: the stream completed, or the query itself ended. */
const FINAL_TYPES = new Set([LLM_STREAM_COMPLETED, 'query.completed', 'query.failed', 'query.canceled']);

/**
 * The OpenAI-compatible view of one query (the seed's "v1/completions consumer view"): its chunks
 * as `data: <chat.completion.chunk>`, every other ark event of the query interleaved as
 * `data: {"type":"event","event":…}`, in log order, ending `data: [DONE]`. Module-level functions, so
 * the watch service serialises each event once for all readers.
 */
export const completionView = {
  from: FEED_START,
  format: (e: ArkEvent): unknown => (e.type === LLM_CHUNK ? (e.data as { chunk?: unknown }).chunk : { type: 'event', event: toArkEventJson(e) }),
  /** Real-time replay paces by when each event happened (producer time; append time when it sent none). */
  timeOf: (e: ArkEvent): number => e.time.getTime(),
  endAfter: (e: ArkEvent): readonly string[] | undefined => (FINAL_TYPES.has(e.type) ? ['[DONE]'] : undefined),
};
