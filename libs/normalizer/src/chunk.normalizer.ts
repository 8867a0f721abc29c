import { APPROVAL_REQUESTED, APPROVAL_RESOLVED, LLM_CHUNK, LLM_STREAM_COMPLETED, type NewArkEvent, type SessionEvent } from '#ark/event-store';

/** One parsed line of a `POST /stream/:query` upload. */
export interface ChunkLine {
  /** The query of the upload path. */
  queryId: string;
  /** The line's JSON value, stored as sent (any JSON value, like upstream). */
  chunk: unknown;
  /** 0-based position of the chunk in the query's stream. */
  index: number;
  /** Makes a resent line a no-op (see `chunkDedupeKey`); none: every line is stored. */
  dedupeKey?: string;
}

/** A chunk's ark event and the session it belongs to. */
/** `ark` metadata values longer than this are not ids: the query id is used instead. */
const MAX_ID_LENGTH = 256;

/**
 * Tool-approval chunks. Their wire shape is not documented upstream (the broker relays them
 * opaquely), so a chunk counts as one when it is marked `type`/`object` = the name, or carries its
 * payload under that name; the payload's fields are read in camelCase or snake_case.
 */
const APPROVAL_TYPES = {
  tool_approval_request: APPROVAL_REQUESTED,
  tool_approval_response: APPROVAL_RESOLVED,
} as const;

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

function idFrom(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH ? value : undefined;
}

function firstString(object: JsonObject, keys: readonly string[]): string | null {
  for (const key of keys) if (typeof object[key] === 'string') return object[key];
  return null;
}

function approvalOf(chunk: unknown): { type: string; payload: JsonObject } | undefined {
  if (!isObject(chunk)) return undefined;
  for (const [marker, type] of Object.entries(APPROVAL_TYPES)) {
    if (chunk.type === marker || chunk.object === marker) return { type, payload: chunk };
    const nested = chunk[marker];
    if (isObject(nested)) return { type, payload: nested };
  }
  return undefined;
}

function approvalData(payload: JsonObject): { taskId: string | null; toolCalls: unknown; action: string | null } {
  const toolCalls = payload.toolCalls ?? payload.tool_calls ?? null;
  const approved = payload.approved;
  return {
    taskId: firstString(payload, ['taskId', 'task_id', 'requestId', 'request_id', 'approvalId', 'approval_id']),
    toolCalls,
    action: firstString(payload, ['action', 'decision']) ?? (typeof approved === 'boolean' ? (approved ? 'approve' : 'reject') : null),
  };
}

/**
 * A chunk line as an ark event: `llm.chunk` (or `approval.requested` / `approval.resolved` for
 * tool-approval chunks), source `chunk`, data `{chunk, index}`. The session is the chunk's
 * `ark.session` when it has one, else the upload path's query (as upstream). `query_name` is the
 * upload path's query (Ark posts to `/stream/<query name>`); `query_id` is `ark.query` (Ark's query
 * UID) when the chunk names one.
 */
export function normalizeChunk(line: ChunkLine): SessionEvent {
  const ark = isObject(line.chunk) && isObject(line.chunk.ark) ? line.chunk.ark : {};
  const approval = approvalOf(line.chunk);
  return {
    sessionId: idFrom(ark.session) ?? line.queryId,
    event: {
      type: approval?.type ?? LLM_CHUNK,
      queryId: idFrom(ark.query) ?? null,
      queryName: line.queryId,
      source: 'chunk',
      dedupeKey: line.dedupeKey ?? null,
      data: { chunk: line.chunk, index: line.index, ...(approval ? approvalData(approval.payload) : {}) },
    },
  };
}

/**
 * Dedupe key of a line sent with an `Idempotency-Key`: the same key and the same line position
 * (0-based, among the body's JSON lines) is the same chunk, so resending a whole upload is a no-op.
 */
export function chunkDedupeKey(queryId: string, idempotencyKey: string, line: number): string {
  // `line:` keeps producer keys apart from the completion key (`chunk:<query>:completed:<n>`).
  return `chunk:${queryId}:line:${idempotencyKey}:${line}`;
}

/**
 * `llm.stream.completed`, appended once per run of a query's stream (`query`: the upload path's): its
 * dedupe key holds the purge watermark the completion was decided under (a stream purged and written
 * again can complete again) and the run (`run`: the `ark.query` its chunks name, so a new query
 * reusing the name completes on its own).
 */
export function streamCompletedEvent(query: string, run: string | null, chunkCount: number, purgedThrough: number): NewArkEvent {
  return {
    type: LLM_STREAM_COMPLETED,
    queryId: run,
    queryName: query,
    source: 'chunk',
    dedupeKey: `chunk:${query}:completed:${purgedThrough}${run === null ? '' : `:${run}`}`,
    data: { chunkCount },
  };
}
