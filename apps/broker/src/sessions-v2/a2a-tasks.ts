import { A2A_TASK_ARTIFACT, A2A_TASK_STATUS, A2A_TASK_UPDATED } from '#ark/event-store';
import { A2A_FINAL_STATES, a2aStateName } from '#ark/normalizer';
import type { QueryRow } from './query.repository.js';
import type { A2aTaskEventRow } from './raw-event.repository.js';

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : null);

/** One A2A task as the session aggregate shows it, folded from its events in log order. */
export interface A2aTaskView {
  taskId: string;
  contextId: string | null;
  /** The A2A server (operation events of Ark's A2A execution name it). */
  server: string | null;
  state: string;
  final: boolean;
  updatedAt: string;
  states: { state: string; at: string; message: unknown }[];
  artifacts: { artifactId: string; name: string | null; description: string | null; parts: unknown[]; complete: boolean }[];
}

/** What the fold reads of an event. */
export interface A2aEventRow {
  type: string;
  time: Date;
  data: unknown;
}

/**
 * Folds `a2a.task.status`, `a2a.task.artifact` and (Ark's operation events) `a2a.task.updated`
 * events, in log order, into tasks: each state change once in its history, artifacts with appended
 * parts joined. Tasks in the order they were first seen.
 */
export function foldA2aTasks(events: readonly A2aEventRow[]): A2aTaskView[] {
  const tasks = new Map<string, A2aTaskView>();
  const taskOf = (taskId: string, at: Date) => {
    let task = tasks.get(taskId);
    if (!task) {
      task = { taskId, contextId: null, server: null, state: 'unknown', final: false, updatedAt: at.toISOString(), states: [], artifacts: [] };
      tasks.set(taskId, task);
    }
    if (at.toISOString() > task.updatedAt) task.updatedAt = at.toISOString();
    return task;
  };
  const setState = (task: A2aTaskView, state: string, at: Date, message: unknown) => {
    if (task.states.at(-1)?.state !== state) task.states.push({ state, at: at.toISOString(), message });
    task.state = state;
    task.final = A2A_FINAL_STATES.has(state);
  };
  for (const e of events) {
    if (!isObject(e.data)) continue;
    const d = e.data;
    if (e.type === A2A_TASK_UPDATED) {
      // Ark's A2AExecution* events: the server and a phase, the task id when known.
      const server = str(d.server);
      const task = taskOf(str(d.taskId) ?? `server:${server ?? 'unknown'}`, e.time);
      task.server ??= server;
      const state = a2aStateName(d.state);
      if (state !== null) setState(task, state, e.time, null);
      continue;
    }
    const taskId = str(d.taskId);
    if (taskId === null) continue;
    const task = taskOf(taskId, e.time);
    task.contextId ??= str(d.contextId);
    if (e.type === A2A_TASK_STATUS && typeof d.state === 'string') setState(task, d.state, e.time, d.message ?? null);
    if (e.type === A2A_TASK_ARTIFACT && typeof d.artifactId === 'string' && Array.isArray(d.parts)) {
      const existing = task.artifacts.find((a) => a.artifactId === d.artifactId);
      if (existing && d.append === true) {
        existing.parts.push(...(d.parts as unknown[]));
        existing.complete = d.lastChunk === true;
      } else {
        const artifact = {
          artifactId: d.artifactId,
          name: str(d.name),
          description: str(d.description),
          parts: [...(d.parts as unknown[])],
          complete: d.lastChunk === true || d.append !== true,
        };
        if (existing) Object.assign(existing, artifact);
        else task.artifacts.push(artifact);
      }
    }
  }
  return [...tasks.values()];
}

/**
 * The A2A tasks of each query (by query key): a session's `a2a.task.*` events go to the query whose
 * UID they carry, else (no UID) to the newest query of their name; events of no listed query are left out.
 */
export function a2aTasksByQuery(queries: readonly QueryRow[], events: readonly A2aTaskEventRow[]): Map<string, A2aTaskView[]> {
  const byUid = new Map(queries.filter((q) => q.query_id !== null).map((q) => [q.query_id!, q.query_key]));
  const byName = new Map<string, string>();
  // Oldest first, so the newest query of a name wins.
  for (const q of queries) if (q.query_name !== null) byName.set(q.query_name, q.query_key);
  const perQuery = new Map<string, A2aTaskEventRow[]>();
  for (const e of events) {
    const key = (e.query_id !== null ? byUid.get(e.query_id) : undefined) ?? (e.query_name !== null ? byName.get(e.query_name) : undefined);
    if (key === undefined) continue;
    const list = perQuery.get(key);
    if (list) list.push(e);
    else perQuery.set(key, [e]);
  }
  return new Map([...perQuery].map(([key, list]) => [key, foldA2aTasks(list)]));
}
