import { createHash } from 'node:crypto';
import { A2A_TASK_UPDATED, FAMILY_OPERATIONS, OPERATION_RECORDED, PHASE_REASONS, workTypeOf, type SessionEvent, type WorkPhase } from '#ark/event-store';
import { toolStepKey } from './work-step.js';

/** The body Ark's controller POSTs to `/events` (only `data.queryId` is required, as upstream). */
export interface OperationEvent {
  timestamp?: string;
  eventType?: string;
  reason?: string;
  message?: string;
  data: { queryId: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** `<Operation><Phase>` reasons and the ark event family each operation maps to (docs/events.md#4-event-types). */
const OPERATIONS: [operation: string, family: string][] = [
  ...Object.entries(FAMILY_OPERATIONS).map(([family, operation]): [string, string] => [operation, family]),
  ['A2AExecution', 'a2a.task'],
  ['MemoryAddMessages', 'memory.add_messages'],
  ['MemoryGetMessages', 'memory.get_messages'],
];
const PHASES = Object.fromEntries(Object.entries(PHASE_REASONS).map(([phase, reason]) => [reason, phase])) as Record<string, WorkPhase>;

const str = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? v : typeof v === 'number' ? String(v) : null);
/** `{[key]: value}` when there is a value: a field most producers never send stays out of `data`. */
const optional = (key: string, value: string | null) => (value === null ? {} : { [key]: value });

function typeOf(reason: string, hasError: boolean): string {
  for (const [operation, family] of OPERATIONS) {
    if (!reason.startsWith(operation)) continue;
    const phase = PHASES[reason.slice(operation.length)];
    if (!phase) break;
    // A2A executions report task state changes, whatever the phase.
    if (family === 'a2a.task') return A2A_TASK_UPDATED;
    // As upstream: a QueryExecutionComplete that carries an error is a failure.
    return `${family}.${phase === 'completed' && hasError ? 'failed' : phase}`;
  }
  return OPERATION_RECORDED;
}

/** Fields of the family's data (docs/events.md#5-data-per-type) from the event's `data`. */
function familyData(type: string, d: Record<string, unknown>): Record<string, unknown> {
  const duration = Number(str(d.durationMs) ?? NaN);
  const common = { ...(Number.isFinite(duration) ? { durationMs: duration } : {}), ...(d.error ? { error: d.error } : {}) };
  if (type.startsWith('tool.call.')) {
    return {
      toolName: str(d.toolName) ?? str(d.tool),
      toolType: str(d.toolType),
      toolId: str(d.toolId) ?? str(d.toolCallId),
      parameters: d.parameters ?? d.input ?? null,
      result: d.result ?? d.output ?? null,
      mcpSessionId: str(d.mcpSessionId) ?? str(d['mcp.session.id']),
      ...optional('mcpTaskId', str(d.mcpTaskId) ?? str(d['mcp.task.id'])),
      ...common,
    };
  }
  if (type.startsWith('llm.call.')) return { model: str(d.model) ?? str(d.modelName), modelType: str(d.modelType), ...common };
  if (type.startsWith('agent.')) return { agent: str(d.agent) ?? str(d.agentName), ...common };
  if (type.startsWith('team.'))
    return { team: str(d.team) ?? str(d.teamName), member: str(d.member), turn: d.turn ?? null, strategy: str(d.strategy), ...common };
  if (type.startsWith('query.')) return { target: d.target ?? null, input: d.input ?? null, response: d.response ?? d.output ?? null, ...common };
  if (type === A2A_TASK_UPDATED) return { server: str(d.server) ?? str(d.a2aServer), taskId: str(d.taskId), state: str(d.state) ?? str(d.phase), ...common };
  return common;
}

function digest(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('base64url').slice(0, 16);
}

/**
 * One operation event as one ark event. The session is `data.sessionId`, else the query UID (as
 * upstream). The dedupe key (query, reason, tool id or timestamp, and a digest of the body) makes
 * the Go sender's retries, which repeat the body exactly, no-ops without merging distinct events. `data.operationEvent` keeps the body as posted, which upstream reads answer with.
 */
export function normalizeOperationEvent(body: OperationEvent): SessionEvent {
  const d = body.data;
  const reason = str(body.reason) ?? '';
  const type = typeOf(reason, Boolean(d.error));
  const time = body.timestamp ? new Date(body.timestamp) : undefined;
  const toolId = str(d.toolId) ?? str(d.toolCallId);
  const work = workTypeOf(type);
  const namespace = str(d.queryNamespace) ?? str(d.namespace);
  return {
    sessionId: str(d.sessionId) ?? d.queryId,
    event: {
      type,
      time: time && !Number.isNaN(time.getTime()) ? time : undefined,
      queryId: d.queryId,
      queryName: str(d.queryName),
      namespace,
      userId: str(d.userId),
      source: 'operation-event',
      dedupeKey: `op:${d.queryId}:${reason}:${toolId ?? str(body.timestamp) ?? ''}:${digest(body)}`,
      stepKey: work?.family === 'tool.call' ? toolStepKey(namespace, str(d.queryName), toolId, work.phase) : null,
      data: { reason, eventType: str(body.eventType), message: str(body.message), ...familyData(type, d), operationEvent: body },
    },
  };
}
