import type { WorkPhase } from '#ark/event-store';

/**
 * The step key of a tool call's start or end (NewArkEvent.stepKey): Ark reports a tool call both as
 * `ToolCall*` operation events and as a `tool.<name>` span, each naming the query (namespace and name)
 * and the LLM's tool call id, so both give this key and the log keeps one start and one end.
 */
export function toolStepKey(
  namespace: string | null | undefined,
  queryName: string | null | undefined,
  toolId: string | null,
  phase: WorkPhase,
): string | null {
  if (!queryName || !toolId) return null;
  return `step:tool.call:${namespace ?? ''}/${queryName}/${toolId}:${phase === 'started' ? 'start' : 'end'}`;
}
