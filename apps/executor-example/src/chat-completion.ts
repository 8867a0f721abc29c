import type { QueryContext } from '#ark/executor-sdk';

export interface ChatEndpoint {
  /** An OpenAI-compatible API base, e.g. https://api.openai.com/v1 or http://localhost:11434/v1 */
  baseUrl: string;
  apiKey?: string;
  model: string;
}

type Message = { role: string; content: string };

/** Ark's query input is a string (one user message) or a list of chat messages. */
function messagesOf(input: unknown): Message[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (Array.isArray(input)) return input as Message[];
  return [{ role: 'user', content: JSON.stringify(input) }];
}

/**
 * Runs the query as one streamed chat completion: each `chat.completion.chunk` is relayed to the
 * broker as it arrives (so `GET /stream/:name` readers see it live), and the answer's text is the
 * query's response.
 */
export async function runChatCompletion(endpoint: ChatEndpoint, context: QueryContext): Promise<{ content: string; model: string }> {
  const response = await fetch(`${endpoint.baseUrl.replace(/\/+$/, '')}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}) },
    body: JSON.stringify({ model: endpoint.model, stream: true, messages: messagesOf(context.query.input) }),
    signal: context.signal,
  });
  if (!response.ok || !response.body) throw new Error(`chat endpoint answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  let content = '';
  let buffered = '';
  const decoder = new TextDecoder();
  // Server-Sent Events: `data: <chunk JSON>` lines, ending with `data: [DONE]`.
  for await (const bytes of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(bytes, { stream: true });
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (!line.startsWith('data:')) continue;
      const data = line.slice('data:'.length).trim();
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data) as { choices?: { delta?: { content?: string } }[] };
      content += chunk.choices?.[0]?.delta?.content ?? '';
      await context.streamChunk(chunk);
    }
  }
  await context.completeStream();
  return { content, model: endpoint.model };
}
