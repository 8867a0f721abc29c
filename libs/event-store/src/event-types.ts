/**
 * The ark event vocabulary (docs/events.md#4-event-types): the type names the normalisers write and
 * the projectors and views read, defined once.
 */

/** Units of work a query is made of; each has `<family>.<phase>` events. */
export const WORK_FAMILIES = ['query', 'agent', 'team', 'team.turn', 'team.member', 'llm.call', 'tool.call'] as const;
export type WorkFamily = (typeof WORK_FAMILIES)[number];

export const WORK_PHASES = ['started', 'completed', 'failed', 'canceled'] as const;
export type WorkPhase = (typeof WORK_PHASES)[number];

/** Ark's operation behind each family: its operation events' reasons are `<Operation><Start|Complete|Error|Canceled>`. */
export const FAMILY_OPERATIONS: Readonly<Record<WorkFamily, string>> = {
  query: 'QueryExecution',
  agent: 'AgentExecution',
  team: 'TeamExecution',
  'team.turn': 'TeamTurn',
  'team.member': 'TeamMember',
  'llm.call': 'LLMCall',
  'tool.call': 'ToolCall',
};

/** The reason suffix of each phase. */
export const PHASE_REASONS: Readonly<Record<WorkPhase, string>> = { started: 'Start', completed: 'Complete', failed: 'Error', canceled: 'Canceled' };

/** Longest family first, so `team.turn.started` is not read as family `team`. */
const FAMILIES_BY_LENGTH = [...WORK_FAMILIES].sort((a, b) => b.length - a.length);

/** `{family, phase}` of a `<family>.<phase>` event type, e.g. `tool.call.completed`. */
export function workTypeOf(type: string): { family: WorkFamily; phase: WorkPhase } | undefined {
  for (const family of FAMILIES_BY_LENGTH) {
    if (!type.startsWith(`${family}.`)) continue;
    const phase = type.slice(family.length + 1);
    return (WORK_PHASES as readonly string[]).includes(phase) ? { family, phase: phase as WorkPhase } : undefined;
  }
  return undefined;
}

/**
 * A later report of a step another source already reported (`tool.call.updated`, see EventAppender):
 * `data.phase` names the step, and the read models fold it in as that step.
 */
export const updatedType = (family: WorkFamily) => `${family}.updated`;

/** The work step an event reports: `<family>.<phase>`, or `<family>.updated` with its `data.phase`. */
export function workStepOf(e: { type: string; data: unknown }): { family: WorkFamily; phase: WorkPhase } | undefined {
  if (e.type.endsWith('.updated')) {
    const family = e.type.slice(0, -'.updated'.length);
    const phase = typeof e.data === 'object' && e.data !== null ? (e.data as { phase?: unknown }).phase : undefined;
    return (WORK_FAMILIES as readonly string[]).includes(family) && (WORK_PHASES as readonly unknown[]).includes(phase)
      ? { family: family as WorkFamily, phase: phase as WorkPhase }
      : undefined;
  }
  return workTypeOf(e.type);
}

export const LLM_CHUNK = 'llm.chunk';
export const LLM_STREAM_COMPLETED = 'llm.stream.completed';
export const APPROVAL_REQUESTED = 'approval.requested';
export const APPROVAL_RESOLVED = 'approval.resolved';
export const A2A_TASK_UPDATED = 'a2a.task.updated';
/** An A2A task's status as its remote agent reported it (`POST /v2/queries/:id/a2a`): state, message, time. */
export const A2A_TASK_STATUS = 'a2a.task.status';
/** An artifact (or a chunk of one) an A2A task's remote agent produced. */
export const A2A_TASK_ARTIFACT = 'a2a.task.artifact';

/**
 * A custom topic's name (`POST /v2/streams/:name`): lower-case dotted words, at most 100 characters
 * (the longest path parameter the HTTP router takes), so its type `custom.<name>` is a valid event type (docs/events.md).
 */
export const CUSTOM_TOPIC_NAME = /^(?=.{1,100}$)[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
/** The event type of a custom topic's events. */
export const customTopicType = (name: string) => `custom.${name}`;
/** An operation event whose reason names no known operation and phase. */
export const OPERATION_RECORDED = 'operation.recorded';
/** A span of no known family. */
export const SPAN_FAMILY = 'span';

export const MESSAGE_ADDED = 'message.added';
export const MESSAGES_DELETED = 'messages.deleted';
export const RECORDS_DELETED = 'records.deleted';
export const SESSION_SIGNALLED = 'session.signalled';

/**
 * The transitions of a query in the execution queue (docs/executors.md): each is an event of the
 * query's session. Running and the ends are the work family's own `query.*` types, so the read
 * models fold them in like any other report of the query.
 */
export const QUERY_EXECUTION_EVENTS = {
  submitted: 'query.submitted',
  assigned: 'query.assigned',
  started: 'query.started',
  leaseExpired: 'query.lease.expired',
  reassigned: 'query.reassigned',
  cancelRequested: 'query.cancel.requested',
  retried: 'query.retried',
  completed: 'query.completed',
  failed: 'query.failed',
  canceled: 'query.canceled',
} as const;

/**
 * Whether the broker's queue wrote this event as a query's submission (`POST /v2/queries`): it makes
 * the query a `pending` row of `queries` until its work begins. The queue's later bookkeeping
 * (assigned, lease expired, reassigned, cancel requested, retried) adds nothing to that row.
 */
export const isQuerySubmission = (e: { type: string; source: string }): boolean => e.source === 'api' && e.type === QUERY_EXECUTION_EVENTS.submitted;

/** Types the broker writes itself (memory, tombstones, session signals, the queue's own transitions): a producer may not forge them. */
export const RESERVED_EVENT_TYPES: readonly string[] = [
  RECORDS_DELETED,
  SESSION_SIGNALLED,
  MESSAGE_ADDED,
  MESSAGES_DELETED,
  QUERY_EXECUTION_EVENTS.submitted,
  QUERY_EXECUTION_EVENTS.assigned,
  QUERY_EXECUTION_EVENTS.leaseExpired,
  QUERY_EXECUTION_EVENTS.reassigned,
  QUERY_EXECUTION_EVENTS.cancelRequested,
  QUERY_EXECUTION_EVENTS.retried,
];
