import pc from 'picocolors';
import type { LlmCall, QueryWithCalls, SessionAggregate, ToolCall } from '#ark/client';

// `ark-broker sessions show`: the session aggregate drawn as a tree (queries → LLM and tool calls in
// the order they started → chunks), coloured by status with picocolors (which honours NO_COLOR,
// FORCE_COLOR and whether the output is a terminal).

const STATUS_COLOURS: Record<string, (text: string) => string> = {
  active: pc.yellow,
  running: pc.yellow,
  pending: pc.yellow,
  idle: pc.green,
  done: pc.green,
  completed: pc.green,
  error: pc.red,
  failed: pc.red,
  canceled: pc.magenta,
};

/** A status word in its colour. */
export const statusText = (status: string) => (STATUS_COLOURS[status] ?? pc.dim)(status);

const duration = (ms: number | null) => (ms === null ? '' : ms < 1000 ? ` ${ms} ms` : ` ${(ms / 1000).toFixed(1)} s`);
const tokens = (t: { input: number | null; output: number | null; total: number | null }) =>
  t.total === null && t.input === null ? '' : pc.cyan(` ${t.total ?? (t.input ?? 0) + (t.output ?? 0)} tokens (${t.input ?? 0} in / ${t.output ?? 0} out)`);
/** A JSON value on one line, cut to `max` characters. */
export const brief = (value: unknown, max = 100) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text === undefined ? '' : text.length > max ? `${text.slice(0, max - 1)}…` : text;
};

type Call = { kind: 'llm'; call: LlmCall } | { kind: 'tool'; call: ToolCall };

function callLines(entry: Call): string[] {
  if (entry.kind === 'llm') {
    const c = entry.call;
    const ttft = c.timeToFirstTokenMs === null ? '' : pc.dim(` first token ${c.timeToFirstTokenMs} ms`);
    return [`${pc.blue('llm')} ${c.model ?? '?'} ${statusText(c.status)}${duration(c.durationMs)}${tokens(c.tokens)}${ttft}`];
  }
  const c = entry.call;
  const head = `${pc.magenta('tool')} ${pc.bold(c.toolName ?? '?')}${c.toolType ? pc.dim(` (${c.toolType})`) : ''} ${statusText(c.status)}${duration(c.durationMs)}`;
  const lines = [c.mcpSessionId ? `${head} ${pc.dim(`mcp session ${c.mcpSessionId}`)}` : head];
  if (c.parameters !== null && c.parameters !== undefined) lines.push(pc.dim(`parameters ${brief(c.parameters)}`));
  if (c.result !== null && c.result !== undefined) lines.push(pc.dim(`result ${brief(c.result)}`));
  if (c.error !== null && c.error !== undefined) lines.push(pc.red(`error ${brief(c.error)}`));
  return lines;
}

/** Children drawn under a parent line: `├─`/`└─` branches, continuation lines kept in the branch. */
function branch(children: string[][], indent: string): string[] {
  return children.flatMap((lines, i) => {
    const last = i === children.length - 1;
    const [first, ...rest] = lines;
    return [`${indent}${last ? '└─ ' : '├─ '}${first}`, ...rest.map((line) => `${indent}${last ? '   ' : '│  '}   ${line}`)];
  });
}

function queryLines(q: QueryWithCalls): string[] {
  const name = q.queryName ?? q.queryKey;
  const head =
    `${pc.bold('query')} ${pc.bold(name)}${q.queryId && q.queryId !== name ? pc.dim(` (${q.queryId})`) : ''} ${statusText(q.phase)}` +
    `${duration(q.durationMs)}${tokens(q.tokens)}${q.agent ? pc.dim(` agent ${q.agent}`) : ''}`;
  const calls: Call[] = [
    ...q.llmCalls.items.map((call): Call => ({ kind: 'llm', call })),
    ...q.toolCalls.items.map((call): Call => ({ kind: 'tool', call })),
  ].sort((a, b) => (a.call.startedAt ?? '').localeCompare(b.call.startedAt ?? ''));
  const children = calls.map(callLines);
  if (q.input !== null && q.input !== undefined) children.unshift([pc.dim(`input ${brief(q.input)}`)]);
  const more = [q.llmCalls, q.toolCalls].some((list) => list.truncated);
  if (more) children.push([pc.dim(`… more calls: ark-broker queries show ${q.queryId ?? q.queryKey}`)]);
  if (q.chunks.count > 0) children.push([pc.dim(`${q.chunks.count} chunks${q.chunks.streamCompleted ? ', stream completed' : ', streaming'}`)]);
  if (q.response !== null && q.response !== undefined) children.push([`${pc.green('response')} ${brief(q.response)}`]);
  if (q.error !== null && q.error !== undefined) children.push([pc.red(`error ${brief(q.error)}`)]);
  return [head, ...branch(children, '')];
}

/** The aggregate as lines of text (coloured when picocolors says the output takes colours). */
export function sessionTree(aggregate: SessionAggregate): string[] {
  const s = aggregate.session;
  const lines = [
    `${pc.bold('session')} ${pc.bold(s.sessionId)} ${statusText(s.status)}${s.userId ? pc.dim(` user ${s.userId}`) : ''} ` +
      pc.dim(`${s.eventCount} events, ${s.queryCount} queries, last activity ${s.lastActivityAt}`) +
      tokens(s.tokens),
  ];
  const children = aggregate.queries.items.map(queryLines);
  if (aggregate.queries.truncated) children.unshift([pc.dim(`… ${aggregate.queries.total - aggregate.queries.items.length} older queries`)]);
  for (const approval of aggregate.pendingApprovals.items) {
    children.push([`${pc.yellow('approval pending')} ${approval.taskId ?? ''} ${pc.dim(`since ${approval.requestedAt}`)} ${brief(approval.toolCalls)}`]);
  }
  if (aggregate.messages.count > 0) children.push([pc.dim(`${aggregate.messages.count} messages`)]);
  return [...lines, ...branch(children, '')];
}
