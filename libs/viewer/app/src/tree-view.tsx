import { formatDuration, formatTokens, formatValue } from './format.js';
import type { NodeKind, TreeNode } from './session-tree.js';

const KIND_LABEL: Record<NodeKind, string> = {
  query: 'query',
  agent: 'agent',
  team: 'team',
  turn: 'turn',
  member: 'member',
  llm: 'LLM',
  tool: 'tool',
  approval: 'approval',
  message: 'message',
  a2a: 'A2A',
  span: 'span',
  stream: 'stream',
};

const FIELD_LABEL: Record<string, string> = {
  parameters: 'Parameters',
  result: 'Result',
  error: 'Error',
  mcpSessionId: 'MCP session',
  input: 'Input',
  output: 'Output',
  response: 'Response',
  target: 'Target',
  toolType: 'Tool type',
  toolId: 'Tool call id',
  modelType: 'Provider',
  toolCalls: 'Tool calls',
  action: 'Decision',
  content: 'Content',
  strategy: 'Strategy',
  state: 'State',
  taskId: 'Task',
};
/** Shown inline after the label rather than as a block. */
const INLINE = new Set(['toolType', 'toolId', 'mcpSessionId', 'modelType', 'action', 'strategy', 'state', 'taskId']);

/** The session tree as nested disclosure widgets (keyboard: Tab to a node, Enter/Space to fold it). */
export function TreeView({ roots, onReplay }: { roots: TreeNode[]; onReplay: (queryRef: string) => void }) {
  return (
    <ul class="tree" aria-label="Session tree">
      {roots.map((n) => (
        <NodeView key={n.key} node={n} onReplay={onReplay} />
      ))}
    </ul>
  );
}

/** Work first, then the conversation: a query's messages are saved when it ends. */
const inOrder = (children: TreeNode[]) => [...children.filter((c) => c.kind !== 'message'), ...children.filter((c) => c.kind === 'message')];

/** One line of a message's content for its folded summary. */
function snippet(content: unknown): string {
  const text = typeof content === 'string' ? content : JSON.stringify(content);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

function NodeView({ node, onReplay }: { node: TreeNode; onReplay: (queryRef: string) => void }) {
  const finished = node.status === 'done' || node.status === 'error' || node.status === 'canceled';
  const inline = Object.entries(node.fields).filter(([k]) => INLINE.has(k) && FIELD_LABEL[k]);
  const blocks = Object.entries(node.fields).filter(([k]) => !INLINE.has(k) && FIELD_LABEL[k]);
  const tokens = node.tokens ?? node.stream?.usage ?? null;
  return (
    <li class={`node kind-${node.kind}`} data-kind={node.kind} data-status={node.status} data-label={node.label}>
      {/* Messages start folded, their first line in the summary. */}
      <details open={node.kind !== 'message'}>
        <summary>
          <span class="kind">{KIND_LABEL[node.kind]}</span> <strong class="label">{node.label}</strong>{' '}
          <span class={`status status-${node.status}`}>{node.status}</span>
          {node.durationMs !== null && <span class="muted"> {formatDuration(node.durationMs)}</span>}
          {tokens && (
            <span class="tokens" data-testid="tokens">
              {' '}
              {formatTokens(tokens)} tokens
            </span>
          )}
          {node.kind === 'message' && <span class="muted"> {snippet(node.fields.content)}</span>}
          {inline.map(([k, v]) => (
            <span key={k} class="inline-field">
              {' '}
              · {FIELD_LABEL[k]}: <code>{String(v)}</code>
            </span>
          ))}
        </summary>
        {node.kind === 'query' && finished && node.queryRef && (
          <button type="button" class="replay" onClick={() => onReplay(node.queryRef!)}>
            Replay at original pace
          </button>
        )}
        {node.stream && (node.stream.text || node.stream.toolCalls.length > 0) && (
          <div class="stream">
            {node.stream.text && <pre class="stream-text">{node.stream.text}</pre>}
            {node.stream.toolCalls.map((c) => (
              <pre key={c.id || c.name} class="stream-tool-call">
                → {c.name}({c.arguments})
              </pre>
            ))}
          </div>
        )}
        {blocks.map(([k, v]) => (
          <div key={k} class={`field field-${k}`}>
            <span class="field-name">{FIELD_LABEL[k]}</span>
            <pre>{formatValue(v)}</pre>
          </div>
        ))}
        {node.children.length > 0 && (
          <ul>
            {inOrder(node.children).map((c) => (
              <NodeView key={c.key} node={c} onReplay={onReplay} />
            ))}
          </ul>
        )}
      </details>
    </li>
  );
}
