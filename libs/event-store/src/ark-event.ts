/** Where an event entered the broker (docs/events.md#2-source-values). */
export const EVENT_SOURCES = ['otlp', 'operation-event', 'chunk', 'message', 'api'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/** An event as a producer hands it to the log, before it has a sequence. */
export interface NewArkEvent {
  type: string;
  /** Producer time; the append time when absent. */
  time?: Date;
  queryId?: string | null;
  queryName?: string | null;
  namespace?: string | null;
  userId?: string | null;
  traceId?: string | null;
  spanId?: string | null;
  parentSpanId?: string | null;
  source: EventSource;
  /** Same key in the same session: the later copy is a no-op. */
  dedupeKey?: string | null;
  /**
   * A step of work more than one producer reports (a tool call's span and its operation events give
   * the same key): EventAppender stores the first report of the step under this key, and a later one
   * from another source or span as `<family>.updated` under its own `dedupeKey`.
   */
  stepKey?: string | null;
  /**
   * Visible this long after it is recorded; absent: EventAppender fills in the tenant's default for its
   * source; null: never expires (a deletion tombstone must outlive what it hides, docs/architecture.md#retention).
   */
  ttlSeconds?: number | null;
  data: unknown;
}

/** An event as stored in the log (its row: event-row.ts). */
export interface ArkEvent {
  tenantId: string;
  sessionId: string;
  sequence: number;
  globalPosition: number;
  /** xid8 of the appending transaction, as a decimal string; with globalPosition it orders the feed. */
  transactionId: string;
  type: string;
  time: Date;
  recordedAt: Date;
  queryId: string | null;
  queryName: string | null;
  namespace: string | null;
  userId: string | null;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  source: EventSource;
  dedupeKey: string | null;
  data: unknown;
  /** When it stops being visible; the reaper deletes it after. */
  expiresAt: Date;
  /** Bytes of `data` as JSON text (what a read page's byte budget counts); null when stored before it was recorded. */
  dataBytes: number | null;
}

/** The public JSON shape of an ark event (docs/events.md#1-the-event), used by every API and stream (toArkEventJson, event-row.ts). */
export interface ArkEventJson {
  id: string;
  tenantId: string;
  sessionId: string;
  sequence: number;
  globalPosition: number;
  type: string;
  time: string;
  recordedAt: string;
  queryId: string | null;
  queryName: string | null;
  namespace: string | null;
  userId: string | null;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  source: EventSource;
  data: unknown;
}

/** What happened to one event of an append call. */
export interface AppendedEvent {
  sessionId: string;
  sequence: number;
  /** True when the dedupe key was already in the session: nothing was written, `sequence` is the original's. */
  duplicate: boolean;
}

/** One event bound for one session of one tenant. */
export interface StreamEvent {
  tenantId: string;
  sessionId: string;
  event: NewArkEvent;
}
