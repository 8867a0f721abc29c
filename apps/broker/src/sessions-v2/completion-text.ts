/** A tool call an LLM completion asked for, its streamed argument pieces joined. */
export interface AssembledToolCall {
  id: string | null;
  name: string | null;
  arguments: string;
}

/** One LLM completion put back together from its `chat.completion.chunk`s. */
export interface AssembledCompletion {
  /** The chunks' `id` (`chatcmpl-…`). */
  id: string | null;
  model: string | null;
  text: string;
  toolCalls: AssembledToolCall[];
  /** The first choice's `finish_reason`; null: the completion was cut off before it finished. */
  finishReason: string | null;
  chunks: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The first choice of an OpenAI chunk (Ark streams one choice per completion). */
const firstChoice = (chunk: Json): Json | undefined => (Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined);

/**
 * Whether a chunk is an LLM's: an object with choices or usage. Ark's executor ends a stream with its
 * own chunk (`ark.completedQuery`, handler.go `finalizeStream`), which no LLM wrote.
 */
function isLlmChunk(chunk: unknown): chunk is Json {
  if (!isObject(chunk) || chunk.error) return false;
  if (isObject(chunk.ark) && chunk.ark.completedQuery !== undefined) return false;
  return Array.isArray(chunk.choices) || isObject(chunk.usage);
}

/**
 * The last LLM completion among a query's chunks (in log order), assembled as the OpenAI SDKs do:
 * content deltas concatenated, tool call deltas merged by `index`. A tool call delta that names the
 * call's id again after its arguments streamed restates the call (Ark's `SendFinalToolCallChunk`):
 * its arguments replace the pieces instead of being appended to them.
 */
export function lastCompletion(chunks: readonly unknown[]): AssembledCompletion | null {
  const llm = chunks.filter(isLlmChunk);
  const last = llm.at(-1);
  if (!last) return null;
  const id = str(last.id);
  const mine = llm.filter((c) => str(c.id) === id);
  let text = '';
  let finishReason: string | null = null;
  const calls = new Map<number, AssembledToolCall>();
  for (const chunk of mine) {
    const choice = firstChoice(chunk);
    if (!choice) continue;
    const delta = isObject(choice.delta) ? choice.delta : {};
    text += str(delta.content) ?? '';
    finishReason = str(choice.finish_reason) ?? finishReason;
    for (const piece of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      if (!isObject(piece)) continue;
      const index = typeof piece.index === 'number' ? piece.index : calls.size;
      const fn = isObject(piece.function) ? piece.function : {};
      const args = str(fn.arguments) ?? '';
      const call = calls.get(index);
      if (!call) {
        calls.set(index, { id: str(piece.id), name: str(fn.name), arguments: args });
        continue;
      }
      const restated = str(piece.id) !== null && str(piece.id) === call.id && call.arguments !== '' && args !== '';
      call.arguments = restated ? args : call.arguments + args;
      call.name ??= str(fn.name);
    }
  }
  return {
    id,
    model: str(last.model),
    text,
    toolCalls: [...calls.entries()].sort(([a], [b]) => a - b).map(([, c]) => c),
    finishReason,
    chunks: mine.length,
  };
}
