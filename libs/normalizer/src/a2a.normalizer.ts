import { createHash } from 'node:crypto';
import { A2A_TASK_ARTIFACT, A2A_TASK_STATUS, type NewArkEvent } from '#ark/event-store';

/**
 * A2A task updates as remote agents send them (push notifications, or a streamed response relayed),
 * in the protocol's own JSON: v1.0's `StreamResponse` (`{task}`, `{statusUpdate}`, `{artifactUpdate}`,
 * ProtoJSON: states `TASK_STATE_WORKING`, parts `{text}`/`{data}`/`{url}`/`{raw}`) and v0.3's objects
 * with `kind` (`task`, `status-update`, `artifact-update`; states `working`, parts with `kind`),
 * either bare or as a JSON-RPC response's `result`. The reference is `@a2a-js/sdk` (its tests send
 * what the SDK serialises). Hand-written rather than the SDK's `fromJSON`: that reads v1.0 only, and
 * the broker keeps parts and metadata exactly as sent.
 */

/** `data` of an `a2a.task.status` event. */
export interface A2aTaskStatusData {
  taskId: string;
  contextId: string | null;
  /** v0.3's names: submitted, working, input-required, auth-required, completed, failed, canceled, rejected, unknown. */
  state: string;
  /** The status message as sent (an A2A Message), or null. */
  message: unknown;
  /** The status's own timestamp as sent, or null. */
  timestamp: string | null;
  /** v0.3's `final` (the last update of a stream), or null. */
  final: boolean | null;
  metadata: unknown;
}

/** `data` of an `a2a.task.artifact` event: an artifact, or (`append`) more parts of one already sent. */
export interface A2aTaskArtifactData {
  taskId: string;
  contextId: string | null;
  artifactId: string;
  name: string | null;
  description: string | null;
  parts: unknown[];
  append: boolean;
  lastChunk: boolean;
  metadata: unknown;
}

/** A payload that is no A2A task update: the message says what is wrong. */
export class A2aPayloadError extends Error {}

/** States in the order of v1.0's TaskState enum (ProtoJSON may send the number). */
const STATES = ['unknown', 'submitted', 'working', 'completed', 'failed', 'canceled', 'input-required', 'rejected', 'auth-required'] as const;
/** States after which a task does not change. */
export const A2A_FINAL_STATES: ReadonlySet<string> = new Set(['completed', 'failed', 'canceled', 'rejected']);

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : null);
const digest = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 32);

/** v0.3's state name of a v1.0 `TASK_STATE_*` name or enum number, or a v0.3 name. */
export function a2aStateName(state: unknown): string | null {
  if (typeof state === 'number') return STATES[state] ?? 'unknown';
  if (typeof state !== 'string' || state.length === 0) return null;
  const name = state
    .replace(/^TASK_STATE_/, '')
    .toLowerCase()
    .replaceAll('_', '-');
  if (name === 'unspecified') return 'unknown';
  return (STATES as readonly string[]).includes(name) ? name : 'unknown';
}

function requireId(value: unknown, what: string): string {
  const id = str(value);
  if (id === null || id.length > 256) throw new A2aPayloadError(`${what} must be a non-empty string of at most 256 characters`);
  return id;
}

function statusEvent(taskId: string, contextId: string | null, status: unknown, final: unknown, metadata: unknown): NewArkEvent {
  if (!isObject(status)) throw new A2aPayloadError('a status update needs a status object');
  const state = a2aStateName(status.state);
  if (state === null) throw new A2aPayloadError('status.state is required');
  const timestamp = str(status.timestamp);
  const at = timestamp === null ? undefined : new Date(timestamp);
  const data: A2aTaskStatusData = {
    taskId,
    contextId,
    state,
    message: status.message ?? null,
    timestamp,
    final: typeof final === 'boolean' ? final : null,
    metadata: metadata ?? null,
  };
  return {
    type: A2A_TASK_STATUS,
    time: at && !Number.isNaN(at.getTime()) ? at : undefined,
    source: 'api',
    // A redelivered update (same task, state and time, or the same status when it has no time) is a no-op.
    dedupeKey: `a2a:${taskId}:status:${state}:${timestamp ?? digest(status)}`,
    data,
  };
}

function artifactEvent(taskId: string, contextId: string | null, artifact: unknown, append: unknown, lastChunk: unknown, metadata: unknown): NewArkEvent {
  if (!isObject(artifact)) throw new A2aPayloadError('an artifact update needs an artifact object');
  const artifactId = requireId(artifact.artifactId, 'artifact.artifactId');
  if (!Array.isArray(artifact.parts)) throw new A2aPayloadError('artifact.parts must be an array');
  const data: A2aTaskArtifactData = {
    taskId,
    contextId,
    artifactId,
    name: str(artifact.name),
    description: str(artifact.description),
    parts: artifact.parts,
    append: append === true,
    lastChunk: lastChunk === true,
    metadata: artifact.metadata ?? metadata ?? null,
  };
  return { type: A2A_TASK_ARTIFACT, source: 'api', dedupeKey: `a2a:${taskId}:artifact:${artifactId}:${digest([artifact, data.append])}`, data };
}

/** A Task snapshot: its status, and each of its artifacts whole. */
function taskEvents(task: Json): NewArkEvent[] {
  const taskId = requireId(task.id, 'task.id');
  const contextId = str(task.contextId);
  const events = task.status === undefined || task.status === null ? [] : [statusEvent(taskId, contextId, task.status, null, task.metadata)];
  const artifacts = Array.isArray(task.artifacts) ? task.artifacts : [];
  return events.concat(artifacts.map((a) => artifactEvent(taskId, contextId, a, false, true, null)));
}

/** The ark events of one A2A payload (without session and query: the route's query gives them). */
export function normalizeA2aUpdate(payload: unknown): NewArkEvent[] {
  if (!isObject(payload)) throw new A2aPayloadError('an A2A update must be a JSON object');
  // A JSON-RPC response relayed as it came.
  if (payload.jsonrpc === '2.0' && 'result' in payload) return normalizeA2aUpdate(payload.result);
  // v1.0 StreamResponse.
  if (isObject(payload.task)) return taskEvents(payload.task);
  if (isObject(payload.statusUpdate)) {
    const u = payload.statusUpdate;
    return [statusEvent(requireId(u.taskId, 'statusUpdate.taskId'), str(u.contextId), u.status, u.final, u.metadata)];
  }
  if (isObject(payload.artifactUpdate)) {
    const u = payload.artifactUpdate;
    return [artifactEvent(requireId(u.taskId, 'artifactUpdate.taskId'), str(u.contextId), u.artifact, u.append, u.lastChunk, u.metadata)];
  }
  // v0.3 objects.
  switch (payload.kind) {
    case 'task':
      return taskEvents(payload);
    case 'status-update':
      return [statusEvent(requireId(payload.taskId, 'taskId'), str(payload.contextId), payload.status, payload.final, payload.metadata)];
    case 'artifact-update':
      return [
        artifactEvent(requireId(payload.taskId, 'taskId'), str(payload.contextId), payload.artifact, payload.append, payload.lastChunk, payload.metadata),
      ];
  }
  throw new A2aPayloadError(
    'not an A2A task update: expected a StreamResponse ({task}, {statusUpdate} or {artifactUpdate}) or an object of kind task, status-update or artifact-update',
  );
}
