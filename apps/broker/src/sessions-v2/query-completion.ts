import { FEED_START, LLM_CHUNK, LLM_STREAM_COMPLETED, toArkEventJson, type ArkEvent } from '#ark/event-store';

/** Ends a query's completion view: the stream completed, or (for a query not streamed so far) the query itself ended. */
const STREAM_END = new Set([LLM_STREAM_COMPLETED]);
const QUERY_END = new Set([LLM_STREAM_COMPLETED, 'query.completed', 'query.failed', 'query.canceled']);
const done =
  (ends: ReadonlySet<string>) =>
  (e: ArkEvent): readonly string[] | undefined =>
    ends.has(e.type) ? ['[DONE]'] : undefined;
const endWithStream = done(STREAM_END);
const endWithQuery = done(QUERY_END);

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
  /**
   * What ends the view: a query whose chunks are already stored ends with its stream (whose chunks
   * may have been stored after the query's own end); any other ends with whichever comes first.
   */
  endAfter: (streamed: boolean) => (streamed ? endWithStream : endWithQuery),
};
