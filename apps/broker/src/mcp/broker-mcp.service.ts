import { Injectable } from '@nestjs/common';
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod';
import type { ReadScope } from '#ark/database';
import { DomainError } from '#ark/errors';
import { BROKER_VERSION } from '#ark/config';
import { EventLogRepository, FEED_START, LLM_CHUNK, LLM_STREAM_COMPLETED, recordedFromAfter, type FeedCursor } from '#ark/event-store';
import { SESSION_STATUSES } from '../sessions-v2/dto/sessions-v2.dto.js';
import { ResumeContextService } from '../sessions-v2/resume-context.service.js';
import { SessionsV2Service } from '../sessions-v2/sessions-v2.service.js';

const MAX_PAGE = 100;
/** Chunk events read for one completion: past this the text is cut and `truncated` says so. */
const MAX_COMPLETION_EVENTS = 20_000;
const COMPLETION_PAGE = 1_000;

const json = (value: unknown): CallToolResult => ({ content: [{ type: 'text', text: JSON.stringify(value) }] });
const resource = (uri: string, value: unknown): ReadResourceResult => ({ contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(value) }] });

/** A tool's answer: its value, or (a not-found or bad argument) an error result the agent can read, as MCP asks tools to report failures. */
async function answer(work: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return json(await work());
  } catch (error) {
    if (!(error instanceof DomainError)) throw error;
    return { isError: true, content: [{ type: 'text', text: error.message }] };
  }
}

/** The text of a chat.completion.chunk's first choice, and its finish reason. */
function chunkParts(chunk: unknown): { content?: string; finishReason?: string } {
  const choice = (chunk as { choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[] } | null)?.choices?.[0];
  return {
    content: typeof choice?.delta?.content === 'string' ? choice.delta.content : undefined,
    finishReason: typeof choice?.finish_reason === 'string' ? choice.finish_reason : undefined,
  };
}

/**
 * The broker's data as an MCP server (docs/mcp.md): tools and resources over the same services as the
 * REST API, each server bound to one caller's read scope, so an agent sees exactly what the caller
 * may see through `/v2` (its tenant; a reader only the sessions they own).
 */
@Injectable()
export class BrokerMcpService {
  constructor(
    private readonly sessions: SessionsV2Service,
    private readonly resume: ResumeContextService,
    private readonly log: EventLogRepository,
  ) {}

  /** A server for one request of one caller (stateless Streamable HTTP: no state outlives the request). */
  serverFor(scope: ReadScope): McpServer {
    const server = new McpServer({ name: 'ark-broker', version: BROKER_VERSION });
    const page = {
      limit: z.number().int().min(1).max(MAX_PAGE).optional().describe(`page size (default 20, at most ${MAX_PAGE})`),
      cursor: z.string().optional(),
    };

    server.registerTool(
      'list_sessions',
      {
        description:
          'Sessions the caller may see, newest activity first: status, counts of queries and errors, agents, teams, models, tools, tokens. Pages with `cursor`.',
        inputSchema: {
          status: z.enum(SESSION_STATUSES).optional(),
          userId: z.string().optional(),
          namespace: z.string().optional(),
          search: z.string().optional().describe('in session ids, query names and inputs'),
          agent: z.string().optional(),
          hasErrors: z.boolean().optional(),
          ...page,
        },
        annotations: { readOnlyHint: true },
      },
      ({ limit, cursor, ...filters }) => answer(() => this.sessions.listSessions(scope, filters, limit ?? 20, cursor)),
    );

    server.registerTool(
      'get_session',
      {
        description: 'One session: its queries with tool calls, LLM calls, chunk summaries and A2A tasks, its conversation messages and pending approvals.',
        inputSchema: { sessionId: z.string().min(1) },
        annotations: { readOnlyHint: true },
      },
      ({ sessionId }) => answer(() => this.sessions.aggregate(scope, sessionId)),
    );

    server.registerTool(
      'find_tool_calls',
      {
        description: 'Tool calls by MCP session id (which session and query asked through that MCP session), session, query or tool name.',
        inputSchema: {
          mcpSessionId: z.string().optional(),
          sessionId: z.string().optional(),
          queryId: z.string().optional(),
          toolName: z.string().optional(),
          ...page,
        },
        annotations: { readOnlyHint: true },
      },
      ({ limit, cursor, ...filters }) => answer(() => this.sessions.listToolCalls(scope, filters, limit ?? 20, cursor)),
    );

    server.registerTool(
      'get_query_completion',
      {
        description: "A query (by UID or name) and its LLM completion: the streamed text joined, the finish reason, the chunk count, and the query's response.",
        inputSchema: { queryId: z.string().min(1) },
        annotations: { readOnlyHint: true },
      },
      ({ queryId }) => answer(() => this.completion(scope, queryId)),
    );

    server.registerTool(
      'get_resume_context',
      {
        description:
          'What an agent needs to resume or continue a query (the same answer as GET /v2/queries/:id/resume-context): its input and target, its conversation’s messages, its tool calls with parameters and results, MCP session and task ids, A2A tasks, pending approvals, the last LLM completion, and where it stopped.',
        inputSchema: { queryId: z.string().min(1) },
        annotations: { readOnlyHint: true },
      },
      ({ queryId }) => answer(() => this.resume.resumeContext(scope, queryId)),
    );

    server.registerResource(
      'session',
      new ResourceTemplate('ark://sessions/{sessionId}', {
        list: async () => {
          const { items } = await this.sessions.listSessions(scope, {}, MAX_PAGE, undefined);
          return {
            resources: items.map((s) => ({ uri: `ark://sessions/${encodeURIComponent(s.sessionId)}`, name: s.sessionId, mimeType: 'application/json' })),
          };
        },
      }),
      { description: 'A session aggregate (as GET /v2/sessions/:id)', mimeType: 'application/json' },
      async (uri, { sessionId }) => resource(uri.href, await this.sessions.aggregate(scope, decodeURIComponent(String(sessionId)))),
    );

    server.registerResource(
      'query',
      new ResourceTemplate('ark://queries/{queryId}', { list: undefined }),
      { description: 'A query with its calls (as GET /v2/queries/:id), by UID or name', mimeType: 'application/json' },
      async (uri, { queryId }) => resource(uri.href, await this.sessions.query(scope, decodeURIComponent(String(queryId)))),
    );
    return server;
  }

  /** The query and its completion text, joined from its chunks (this run's, as the completion view reads them). */
  private async completion(scope: ReadScope, queryId: string) {
    const query = await this.sessions.query(scope, queryId);
    const source = await this.sessions.completionSource(scope, queryId);
    let text = '';
    let chunks = 0;
    let finishReason: string | null = null;
    let streamCompleted = false;
    let cursor: FeedCursor = FEED_START;
    let read = 0;
    for (;;) {
      const { events } = await this.log.readFeed(scope, cursor, COMPLETION_PAGE, { queryIds: source.ids });
      for (const e of events) {
        if (e.type === LLM_STREAM_COMPLETED) streamCompleted = true;
        if (e.type !== LLM_CHUNK || !source.accepts(e)) continue;
        const parts = chunkParts((e.data as { chunk?: unknown } | null)?.chunk);
        text += parts.content ?? '';
        finishReason = parts.finishReason ?? finishReason;
        chunks++;
      }
      read += events.length;
      const last = events.at(-1);
      if (!last || events.length < COMPLETION_PAGE || read >= MAX_COMPLETION_EVENTS) break;
      cursor = { transactionId: BigInt(last.transactionId), globalPosition: last.globalPosition, recordedFrom: recordedFromAfter(last) };
    }
    return { query, completion: { text, finishReason, chunks, streamCompleted, truncated: read >= MAX_COMPLETION_EVENTS } };
  }
}
