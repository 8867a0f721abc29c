import type { SessionQueriesTable, SessionRow } from '#ark/database';

/** Upstream `SessionEntry` (docs/upstream-compat.md §6.1); optional fields are left out when unset. */
export interface SessionEntry {
  sessionId: string;
  name: string;
  queries: Record<string, QueryEntry>;
  status: 'active' | 'idle' | 'error';
  errorCount: number;
  createdAt: string;
  lastActivity: string;
  conversations: ConversationSummary[];
  participants: { id: string; name: string; type: string }[];
}

interface QueryEntry {
  name: string;
  namespace?: string;
  conversationId?: string;
  agent?: string;
  team?: string;
  tool?: string;
  targetType: string;
  phase: string;
  error?: unknown;
  createdAt: string;
  completedAt?: string;
  lastActivity: string;
}

interface ConversationSummary {
  conversationId: string;
  name: string;
  participants: string[];
  messageCount: number;
  duration: string;
  startTime: string;
  participantType: string;
  errorCount: number;
}

const optional = <K extends string, V>(key: K, value: V | null | undefined) => (value === null || value === undefined ? {} : { [key]: value });

function duration(fromMs: number, to: Date | null): string {
  if (!to) return 'ongoing';
  const seconds = Math.max(0, Math.floor((to.getTime() - fromMs) / 1000));
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m ${seconds % 60}s` : `${seconds}s`;
}

/** Builds the entry from the session's summary row and its queries (in upstream's insertion order). */
export function sessionEntry(session: SessionRow, queries: readonly SessionQueriesTable[]): SessionEntry {
  const ordered = [...queries].sort((a, b) => a.first_sequence - b.first_sequence);
  const conversations = new Map<string, SessionQueriesTable[]>();
  for (const q of ordered) {
    if (!q.conversation_id) continue;
    const group = conversations.get(q.conversation_id);
    if (group) group.push(q);
    else conversations.set(q.conversation_id, [q]);
  }
  const summaries: ConversationSummary[] = [...conversations].map(([conversationId, group]) => {
    const first = group[0]!;
    const participants = [...new Set(group.map((q) => q.team ?? q.agent ?? q.tool).filter((p): p is string => !!p))];
    return {
      conversationId,
      name: participants[0] ?? conversationId,
      participants,
      messageCount: group.length,
      duration: duration(first.created_at.getTime(), group.at(-1)!.completed_at),
      startTime: first.created_at.toISOString(),
      participantType: first.target_type === 'team' || first.target_type === 'tool' ? first.target_type : 'agent',
      errorCount: group.filter((q) => q.phase === 'error').length,
    };
  });
  const participants = new Map<string, { id: string; name: string; type: string }>();
  for (const c of summaries) if (!participants.has(c.name)) participants.set(c.name, { id: c.name, name: c.name, type: c.participantType });
  return {
    sessionId: session.session_id,
    name: session.session_id.replace(/^session-/, ''),
    queries: Object.fromEntries(
      ordered.map((q) => [
        q.query_name,
        {
          name: q.query_name,
          ...optional('namespace', q.namespace),
          ...optional('conversationId', q.conversation_id),
          ...optional('agent', q.agent),
          ...optional('team', q.team),
          ...optional('tool', q.tool),
          targetType: q.target_type,
          phase: q.phase,
          ...optional('error', q.error),
          createdAt: q.created_at.toISOString(),
          ...optional('completedAt', q.completed_at?.toISOString()),
          lastActivity: q.last_activity_at.toISOString(),
        },
      ]),
    ),
    status: session.status,
    errorCount: session.error_count,
    createdAt: (session.queries_created_at ?? session.first_activity_at).toISOString(),
    lastActivity: (session.queries_active_at ?? session.last_activity_at).toISOString(),
    conversations: summaries,
    participants: [...participants.values()],
  };
}
