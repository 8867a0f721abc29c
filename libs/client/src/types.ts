import type { components, operations, paths } from './generated/broker-api.js';

// Names for the generated types (src/generated/broker-api.ts) that callers use most.

export type { components, operations, paths };
export type Schemas = components['schemas'];
export type ArkEvent = Schemas['ArkEvent'];
export type Session = Schemas['Session'];
export type SessionAggregate = Schemas['SessionAggregate'];
export type SessionSnapshotMessage = Schemas['SessionSnapshotMessage'];
export type Query = Schemas['Query'];
export type QueryWithCalls = Schemas['QueryWithCalls'];
export type QueryDetail = Schemas['QueryDetail'];
export type ToolCall = Schemas['ToolCall'];
export type LlmCall = Schemas['LlmCall'];
export type SessionMessage = Schemas['SessionMessage'];
export type PendingApproval = Schemas['PendingApproval'];
export type Retention = Schemas['Retention'];
export type AppendedEvents = Schemas['AppendedEvents'];
export type CompletionEventMessage = Schemas['CompletionEventMessage'];

type QueryOf<Operation extends keyof operations> = operations[Operation]['parameters'] extends { query?: infer Q } ? NonNullable<Q> : never;
type BodyOf<Operation extends keyof operations> = operations[Operation] extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;

/** `GET /v2/sessions` filters (and `limit`, `cursor`). */
export type SessionListQuery = QueryOf<'SessionsV2Controller_list'>;
/** `GET /v2/sessions/:id/events` (`after`, `limit`, `types`). */
export type SessionEventsQuery = Omit<QueryOf<'EventsController_sessionEvents'>, 'watch' | 'cursor'>;
/** `GET /v2/events` (`after`, `limit`). */
export type FeedQuery = Omit<QueryOf<'EventsController_tenantFeed'>, 'watch' | 'cursor'>;
/** `GET /v2/tool-calls` filters. */
export type ToolCallQuery = QueryOf<'SessionsV2Controller_toolCalls'>;
/** `GET /v2/queries/:id/completion` (`replay`, `maxGapMs`). */
export type CompletionQuery = QueryOf<'SessionsV2Controller_completion'>;
/** One producer event of `POST /v2/events`. */
export type ProducerEvent = BodyOf<'EventsController_append'> extends (infer E)[] ? E : never;
/** An upstream operation event (`POST /events`), as Ark's Go event sender posts it: only `data.queryId` is checked, every other field is kept. */
export type OperationEvent = BodyOf<'OperationEventsController_record'> & {
  reason?: string;
  timestamp?: string;
  data: { queryId: string; [field: string]: unknown };
  [field: string]: unknown;
};
/** `PUT /v2/retention`. */
export type RetentionUpdate = BodyOf<'RetentionController_put'>;

/** A message of `GET /v2/queries/:id/completion`: an OpenAI `chat.completion.chunk`, or another ark event of the query. */
export type CompletionMessage = CompletionEventMessage | { type?: undefined; choices?: unknown[]; [key: string]: unknown };
