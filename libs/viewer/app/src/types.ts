/** The parts of the broker's answers the viewer reads (GET /v2/sessions, GET /v2/sessions/:id). */

export interface Tokens {
  input: number | null;
  output: number | null;
  total: number | null;
}

export interface SessionSummary {
  sessionId: string;
  userId: string | null;
  status: 'active' | 'idle' | 'error';
  firstActivityAt: string;
  lastActivityAt: string;
  eventCount: number;
  lastSequence: number;
  queryCount: number;
  errorQueryCount: number;
  hasErrors: boolean;
  namespaces: string[];
  agents: string[];
  teams: string[];
  models: string[];
  tools: string[];
  tokens: Tokens;
}

export interface Page<T> {
  items: T[];
  hasMore: boolean;
  nextCursor: string | null;
}

export interface SessionAggregate {
  session: SessionSummary;
  queries: { items: { queryKey: string; queryId: string | null; queryName: string | null; phase: string; tokens: Tokens }[]; total: number };
  messages: { count: number };
  pendingApprovals: { items: { taskId: string; queryId: string | null }[]; total: number };
}
