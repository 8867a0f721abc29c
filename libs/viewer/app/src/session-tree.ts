import type { ArkEvent } from './api.js';

/**
 * Folds a session's ark events (docs/events.md) into the tree the session page draws: queries →
 * agents, teams and turns → LLM calls (their streamed text) and tool calls → approvals and
 * messages. Spans nest by their parent span; work reported only by operation events (which name no
 * span) goes under the query's agent or turn still running. A node whose parent span arrives later
 * moves under it then.
 */

/** The fields of an ark event (the client's `ArkEvent`) the tree reads. */
export type TreeEvent = Pick<
  ArkEvent,
  'sequence' | 'type' | 'time' | 'queryId' | 'queryName' | 'namespace' | 'userId' | 'spanId' | 'parentSpanId' | 'source' | 'data'
>;

export type NodeKind = 'query' | 'agent' | 'team' | 'turn' | 'member' | 'llm' | 'tool' | 'approval' | 'message' | 'a2a' | 'span' | 'stream';
export type NodeStatus = 'running' | 'done' | 'error' | 'canceled' | 'pending' | 'info';

export interface Tokens {
  input: number | null;
  output: number | null;
  total: number | null;
}

/** What one LLM completion streamed (its `chat.completion.chunk` lines, grouped by chunk id). */
export interface StreamedCompletion {
  chunkId: string;
  text: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  chunks: number;
  finishReason: string | null;
  usage: Tokens | null;
}

export interface TreeNode {
  key: string;
  kind: NodeKind;
  label: string;
  status: NodeStatus;
  startedAt: string | null;
  endedAt: string | null;
  durationMs: number | null;
  tokens: Tokens | null;
  /** Kind-specific fields shown beside the node: input, output, parameters, result, error, MCP session id… */
  fields: Record<string, unknown>;
  stream: StreamedCompletion | null;
  spanId: string | null;
  parentSpanId: string | null;
  /** The query this node belongs to (its query id or name), for replay. */
  queryRef: string | null;
  children: TreeNode[];
  parent: TreeNode | null;
}

export interface SessionTree {
  roots: TreeNode[];
  lastSequence: number;
  events: number;
}

const PHASE_STATUS: Record<string, NodeStatus> = { started: 'running', completed: 'done', failed: 'error', canceled: 'canceled' };

/** The work family of a type and its phase, e.g. `tool.call.completed` → [`tool`, `completed`]. */
function familyOf(type: string): [NodeKind | null, string] {
  const phase = type.slice(type.lastIndexOf('.') + 1);
  if (type.startsWith('query.')) return ['query', phase];
  if (type.startsWith('agent.')) return ['agent', phase];
  if (type.startsWith('team.turn.')) return ['turn', phase];
  if (type.startsWith('team.member.')) return ['member', phase];
  if (type.startsWith('team.')) return ['team', phase];
  if (type.startsWith('llm.call.')) return ['llm', phase];
  if (type.startsWith('tool.call.')) return ['tool', phase];
  if (type.startsWith('span.')) return ['span', phase === 'ended' ? 'completed' : phase];
  if (type === 'a2a.task.updated') return ['a2a', 'updated'];
  return [null, phase];
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const numOrNull = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The step a `.updated` event reports (`data.phase`), else the type's own phase. */
function phaseOf(phase: string, data: Record<string, unknown>): string {
  if (phase !== 'updated') return phase;
  const reported = str(data.phase);
  return reported && reported in PHASE_STATUS ? reported : 'updated';
}

function tokensOf(value: unknown): Tokens | null {
  if (!value || typeof value !== 'object') return null;
  const t = value as Record<string, unknown>;
  const tokens = { input: numOrNull(t.input), output: numOrNull(t.output), total: numOrNull(t.total) };
  if (tokens.total === null && (tokens.input !== null || tokens.output !== null)) tokens.total = (tokens.input ?? 0) + (tokens.output ?? 0);
  return tokens.input === null && tokens.output === null && tokens.total === null ? null : tokens;
}

interface QueryState {
  node: TreeNode;
  /** LLM calls in start order, and completions streamed before their call was known. */
  llmCalls: TreeNode[];
  streams: Map<string, StreamedCompletion>;
  unclaimed: StreamedCompletion[];
}

export class SessionTreeBuilder {
  private readonly roots: TreeNode[] = [];
  private readonly nodes = new Map<string, TreeNode>();
  private readonly bySpan = new Map<string, TreeNode>();
  private readonly waitingForSpan = new Map<string, TreeNode[]>();
  /** Nodes placed without knowing their parent span: they move once it is known. */
  private readonly guessed = new Set<TreeNode>();
  private readonly queries = new Map<string, QueryState>();
  /** Query UID → name: chunks and spans may name a query by one, operation events by both. */
  private readonly queryNames = new Map<string, string>();
  private lastSequence = 0;
  private events = 0;

  /** Applies events in sequence order; an event already applied (a resumed stream repeating it) is ignored. */
  apply(event: TreeEvent): boolean {
    if (event.sequence <= this.lastSequence) return false;
    this.lastSequence = event.sequence;
    this.events++;
    const data = (event.data && typeof event.data === 'object' ? event.data : {}) as Record<string, unknown>;
    const [kind, rawPhase] = familyOf(event.type);
    if (event.type === 'llm.chunk') this.applyChunk(event, data);
    else if (event.type === 'llm.stream.completed') {
      const q = this.query(event);
      if (q) q.node.fields.streamCompleted = true;
    } else if (event.type.startsWith('approval.')) this.applyApproval(event, data);
    else if (event.type === 'message.added') this.applyMessage(event, data);
    else if (kind === 'query') this.applyQuery(event, data, phaseOf(rawPhase, data));
    else if (kind) this.applyWork(event, data, kind, phaseOf(rawPhase, data));
    return true;
  }

  snapshot(): SessionTree {
    return { roots: this.roots, lastSequence: this.lastSequence, events: this.events };
  }

  // ── queries ───────────────────────────────────────────────────────────────────────────────────

  private queryKeyOf(event: TreeEvent): string | null {
    if (event.queryId && event.queryName) this.queryNames.set(event.queryId, event.queryName);
    return event.queryName ?? (event.queryId ? (this.queryNames.get(event.queryId) ?? event.queryId) : null);
  }

  private query(event: TreeEvent): QueryState | null {
    const key = this.queryKeyOf(event);
    if (!key) return null;
    let q = this.queries.get(key);
    if (!q) {
      const node = this.newNode(`query:${key}`, 'query', key, null);
      node.status = 'pending';
      node.queryRef = event.queryId ?? key;
      node.startedAt = event.time;
      q = { node, llmCalls: [], streams: new Map(), unclaimed: [] };
      this.queries.set(key, q);
      this.roots.push(node);
    }
    if (event.queryId && q.node.queryRef === key) q.node.queryRef = event.queryId;
    return q;
  }

  private applyQuery(event: TreeEvent, data: Record<string, unknown>, phase: string): void {
    const q = this.query(event);
    if (!q) return;
    const node = q.node;
    this.track(node, event);
    if (phase === 'started') {
      if (node.status === 'pending') node.status = 'running';
      node.startedAt = minTime(node.startedAt, event.time);
    } else if (phase in PHASE_STATUS) {
      // A later `done` clears an error; `canceled` never overrides an error (the sessions phase rules).
      const status = PHASE_STATUS[phase]!;
      if (!(status === 'canceled' && node.status === 'error')) node.status = status;
      node.endedAt = maxTime(node.endedAt, event.time);
      node.durationMs = numOrNull(data.durationMs) ?? node.durationMs;
    }
    node.tokens = tokensOf(data.tokens) ?? node.tokens;
    copyFields(node, data, ['target', 'input', 'output', 'response', 'error']);
  }

  // ── agents, teams, LLM calls, tool calls, spans ──────────────────────────────────────────────

  private workKey(event: TreeEvent, data: Record<string, unknown>, kind: NodeKind, q: QueryState | null): string | null {
    const scope = q?.node.key ?? 'session';
    if (kind === 'llm') return str(data.callKey) ? `llm:${str(data.callKey)}` : event.spanId ? `span:${event.spanId}` : null;
    if (kind === 'tool') return str(data.toolId) ? `tool:${scope}:${str(data.toolId)}` : event.spanId ? `span:${event.spanId}` : null;
    if (kind === 'a2a') return `a2a:${scope}:${str(data.taskId) ?? str(data.server) ?? event.sequence}`;
    if (kind === 'span') return event.spanId ? `span:${event.spanId}` : `span:${event.sequence}`;
    return null; // agents, teams, turns, members: matched by name (their span and operation events are not paired)
  }

  private labelOf(kind: NodeKind, data: Record<string, unknown>): string {
    switch (kind) {
      case 'agent':
        return str(data.agent) ?? 'agent';
      case 'team':
        return str(data.team) ?? 'team';
      case 'turn':
        return `turn ${str(data.turn) ?? ''}`.trim();
      case 'member':
        return str(data.member) ?? str(data.agent) ?? 'member';
      case 'llm':
        return str(data.model) ?? 'LLM call';
      case 'tool':
        return str(data.toolName) ?? 'tool call';
      case 'a2a':
        return `A2A ${str(data.server) ?? ''}`.trim();
      default:
        return str(data.name) ?? kind;
    }
  }

  private applyWork(event: TreeEvent, data: Record<string, unknown>, kind: NodeKind, phase: string): void {
    const q = this.query(event);
    const label = this.labelOf(kind, data);
    const key = this.workKey(event, data, kind, q);
    let node = key ? this.nodes.get(key) : undefined;
    if (!node && event.spanId) node = this.bySpan.get(event.spanId);
    if (!node && !key) node = this.openByName(q, kind, label, phase);
    if (!node) {
      node = this.newNode(key ?? `${kind}:${event.sequence}`, kind, label, q);
      node.status = 'pending';
      node.parentSpanId = event.parentSpanId;
      this.place(node, q);
      if (kind === 'llm' && q) this.claimStream(q, node);
    }
    this.track(node, event);
    if (phase === 'started') {
      if (node.status === 'pending') node.status = 'running';
      node.startedAt = minTime(node.startedAt, event.time);
    } else if (phase in PHASE_STATUS) {
      node.status = PHASE_STATUS[phase]!;
      node.endedAt = maxTime(node.endedAt, event.time);
      const duration = numOrNull(data.durationMs);
      if (duration !== null) {
        node.durationMs = duration;
        if (!node.startedAt) node.startedAt = new Date(Date.parse(event.time) - duration).toISOString();
      }
    } else if (kind === 'a2a') {
      const state = str(data.state) ?? '';
      node.status = /complete|done|succeed/i.test(state) ? 'done' : /fail|error/i.test(state) ? 'error' : /cancel/i.test(state) ? 'canceled' : 'running';
      node.startedAt = minTime(node.startedAt, event.time);
    }
    node.tokens = tokensOf(data.tokens) ?? node.tokens;
    copyFields(node, data, [
      'toolType',
      'toolId',
      'parameters',
      'result',
      'error',
      'mcpSessionId',
      'input',
      'output',
      'modelType',
      'strategy',
      'state',
      'taskId',
    ]);
  }

  /** Agents and teams are reported by their span and by operation events, unpaired: the open one of that name is the same. */
  private openByName(q: QueryState | null, kind: NodeKind, label: string, phase: string): TreeNode | undefined {
    const all = [...this.nodes.values()].filter((n) => n.kind === kind && n.label === label && (q ? isUnder(n, q.node) : true));
    const open = all.filter((n) => n.status === 'running' || n.status === 'pending');
    if (phase === 'started') return open.at(-1);
    return open.at(-1) ?? all.at(-1);
  }

  /** Under the parent span when known; else under the query's running agent, turn or team; else the query. */
  private place(node: TreeNode, q: QueryState | null): void {
    const parentSpan = node.parentSpanId;
    const parent = parentSpan ? this.bySpan.get(parentSpan) : undefined;
    if (parent) return attach(node, parent);
    if (parentSpan) this.waitFor(parentSpan, node);
    this.guessed.add(node);
    const host = q ? this.runningHost(q.node, node.kind) : undefined;
    if (host) attach(node, host);
    else if (q) attach(node, q.node);
    else this.roots.push(node);
  }

  /** The innermost running agent / member / turn / team under the query that can hold a node of `kind`. */
  private runningHost(query: TreeNode, kind: NodeKind): TreeNode | undefined {
    if (kind === 'span' || kind === 'team') return undefined;
    const hosts: NodeKind[] = kind === 'agent' ? ['member', 'turn', 'team'] : ['agent', 'member', 'turn', 'team'];
    let found: TreeNode | undefined;
    const visit = (n: TreeNode) => {
      for (const child of n.children) {
        if (hosts.includes(child.kind) && child.status === 'running') found = child;
        visit(child);
      }
    };
    visit(query);
    return found;
  }

  /** Remembers the node's spans (a query has several), and moves under them the nodes that were waiting for one. */
  private track(node: TreeNode, event: TreeEvent): void {
    if (!event.spanId || this.bySpan.has(event.spanId)) return;
    this.bySpan.set(event.spanId, node);
    node.spanId ??= event.spanId;
    node.parentSpanId ??= event.parentSpanId;
    for (const child of this.waitingForSpan.get(event.spanId) ?? []) if (!isUnder(node, child)) this.move(child, node);
    this.waitingForSpan.delete(event.spanId);
    if (this.guessed.has(node) && node.parentSpanId) {
      const parent = this.bySpan.get(node.parentSpanId);
      if (parent && !isUnder(parent, node)) this.move(node, parent);
      else if (!parent) this.waitFor(node.parentSpanId, node);
    }
  }

  private waitFor(spanId: string, node: TreeNode): void {
    const waiting = this.waitingForSpan.get(spanId) ?? [];
    if (!waiting.includes(node)) this.waitingForSpan.set(spanId, [...waiting, node]);
  }

  private move(node: TreeNode, parent: TreeNode): void {
    this.guessed.delete(node);
    attach(node, parent);
  }

  // ── chunks, approvals, messages ───────────────────────────────────────────────────────────────

  private applyChunk(event: TreeEvent, data: Record<string, unknown>): void {
    const q = this.query(event);
    const chunk = data.chunk as Record<string, unknown> | null;
    if (!q || !chunk || typeof chunk !== 'object') return;
    // Ark's closing chunk carries the finished Query, not model output.
    if ((chunk.ark as Record<string, unknown> | undefined)?.completedQuery) return;
    const chunkId = str(chunk.id) ?? 'stream';
    let stream = q.streams.get(chunkId);
    if (!stream) {
      stream = { chunkId, text: '', toolCalls: [], chunks: 0, finishReason: null, usage: null };
      q.streams.set(chunkId, stream);
      const call = q.llmCalls.find((c) => c.stream === null);
      if (call) call.stream = stream;
      else q.unclaimed.push(stream);
    }
    stream.chunks++;
    const choices = Array.isArray(chunk.choices) ? (chunk.choices as Record<string, unknown>[]) : [];
    for (const choice of choices) {
      const delta = (choice.delta ?? {}) as Record<string, unknown>;
      if (typeof delta.content === 'string') stream.text += delta.content;
      for (const call of Array.isArray(delta.tool_calls) ? (delta.tool_calls as Record<string, unknown>[]) : []) {
        const index = typeof call.index === 'number' ? call.index : 0;
        const fn = (call.function ?? {}) as Record<string, unknown>;
        const known = (stream.toolCalls[index] ??= { id: '', name: '', arguments: '' });
        if (str(call.id)) known.id = call.id as string;
        if (str(fn.name)) known.name = fn.name as string;
        // A final chunk repeats the whole call: take it instead of appending.
        if (typeof fn.arguments === 'string') known.arguments = str(call.id) && known.arguments ? fn.arguments : known.arguments + fn.arguments;
      }
      if (str(choice.finish_reason)) stream.finishReason = choice.finish_reason as string;
    }
    const usage = chunk.usage as Record<string, unknown> | undefined;
    if (usage) stream.usage = { input: numOrNull(usage.prompt_tokens), output: numOrNull(usage.completion_tokens), total: numOrNull(usage.total_tokens) };
  }

  private claimStream(q: QueryState, call: TreeNode): void {
    q.llmCalls.push(call);
    call.stream = q.unclaimed.shift() ?? null;
  }

  private applyApproval(event: TreeEvent, data: Record<string, unknown>): void {
    const q = this.query(event);
    const taskId = str(data.taskId) ?? String(event.sequence);
    const key = `approval:${taskId}`;
    let node = this.nodes.get(key);
    if (!node) {
      node = this.newNode(key, 'approval', `approval ${taskId}`, q);
      node.startedAt = event.time;
      this.place(node, q);
    }
    if (event.type === 'approval.requested') {
      if (node.status === 'pending' || node.status === 'info') node.status = 'pending';
      node.fields.toolCalls = data.toolCalls;
    } else {
      const action = str(data.action);
      node.status = action === 'reject' || action === 'rejected' ? 'canceled' : 'done';
      node.endedAt = event.time;
      node.fields.action = action;
    }
  }

  private applyMessage(event: TreeEvent, data: Record<string, unknown>): void {
    const q = this.query(event);
    const message = (data.message ?? {}) as Record<string, unknown>;
    const node = this.newNode(
      `message:${event.sequence}`,
      'message',
      `${str(message.role) ?? 'message'}${str(message.name) ? ` (${str(message.name)})` : ''}`,
      q,
    );
    node.status = 'info';
    node.startedAt = event.time;
    node.fields.content = message.content ?? message.tool_calls ?? message;
    if (q) attach(node, q.node);
    else this.roots.push(node);
  }

  private newNode(key: string, kind: NodeKind, label: string, q: QueryState | null): TreeNode {
    const node: TreeNode = {
      key,
      kind,
      label,
      status: 'info',
      startedAt: null,
      endedAt: null,
      durationMs: null,
      tokens: null,
      fields: {},
      stream: null,
      spanId: null,
      parentSpanId: null,
      queryRef: q?.node.queryRef ?? null,
      children: [],
      parent: null,
    };
    this.nodes.set(key, node);
    return node;
  }
}

function attach(node: TreeNode, parent: TreeNode): void {
  if (node.parent) node.parent.children.splice(node.parent.children.indexOf(node), 1);
  node.parent = parent;
  parent.children.push(node);
}

/** Whether `node` is `ancestor` or below it. */
function isUnder(node: TreeNode, ancestor: TreeNode): boolean {
  for (let n: TreeNode | null = node; n; n = n.parent) if (n === ancestor) return true;
  return false;
}

function copyFields(node: TreeNode, data: Record<string, unknown>, names: string[]): void {
  for (const name of names) {
    const value = data[name];
    if (value !== undefined && value !== null && value !== '') node.fields[name] = value;
  }
}

const minTime = (a: string | null, b: string) => (a === null || Date.parse(b) < Date.parse(a) ? b : a);
const maxTime = (a: string | null, b: string) => (a === null || Date.parse(b) > Date.parse(a) ? b : a);
