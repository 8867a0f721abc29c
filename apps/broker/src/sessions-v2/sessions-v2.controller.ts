import { Controller, Get, Headers, Param, Query, Res, UsePipes } from '@nestjs/common';
import { ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { ApiError, apiValidationPipe } from '#ark/http';
import { Caller, type CallerIdentity } from '#ark/tenancy';
import { completionView } from './query-completion.js';
import { WatchStreamService } from '../watch/watch-stream.service.js';
import {
  CompletionQueryDto,
  DEFAULT_MAX_REPLAY_GAP_MS,
  ListSessionsQueryDto,
  ListToolCallsQueryDto,
  SessionAggregateQueryDto,
  SessionQueriesQueryDto,
} from './dto/sessions-v2.dto.js';
import { SessionsV2Repository, type Visibility } from './sessions-v2.repository.js';

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_QUERY_PAGE_SIZE = 20;

/** Admins see the tenant; everyone else only the sessions they own (docs/architecture.md#tenancy). */
function visibility(caller: CallerIdentity): Visibility {
  return caller.roles.includes('admin') ? { tenantId: caller.tenantId } : { tenantId: caller.tenantId, ownerId: caller.userId };
}

function parseSequence(text: string): number {
  if (!/^\d{1,15}$/.test(text.trim())) throw ApiError.badRequest(`bad Last-Event-ID ${JSON.stringify(text)}: expected a sequence number`, 'invalid_cursor');
  return Number(text.trim());
}

/** The native sessions API over the queries / tool calls / LLM calls read models (docs/read-models.md). */
@ApiTags('sessions (v2)')
@Controller('v2')
@UsePipes(apiValidationPipe())
export class SessionsV2Controller {
  constructor(
    private readonly repository: SessionsV2Repository,
    private readonly streams: WatchStreamService,
  ) {}

  @Get('sessions')
  @ApiOperation({ summary: 'Sessions, newest activity first, keyset-paginated; filters status, userId, namespace, from/to, search, agent, hasErrors' })
  async list(@Caller() caller: CallerIdentity, @Query() query: ListSessionsQueryDto) {
    return this.repository.listSessions(
      visibility(caller),
      {
        status: query.status,
        userId: query.userId,
        namespace: query.namespace,
        from: query.from === undefined ? undefined : new Date(query.from),
        to: query.to === undefined ? undefined : new Date(query.to),
        search: query.search,
        agent: query.agent,
        hasErrors: query.hasErrors,
      },
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
  }

  @Get('sessions/:sessionId')
  @ApiOperation({
    summary:
      'The session aggregate (queries → tool calls, LLM calls, chunk summary; message count; pending approvals), lists capped and marked `truncated`. ' +
      '`?watch=true`: the aggregate as one SSE message `{type:"snapshot",sequence,aggregate}`, then the session\'s ark events (`id:` = sequence)',
  })
  @ApiProduces('application/json', 'text/event-stream')
  async get(
    @Caller() caller: CallerIdentity,
    @Param('sessionId') sessionId: string,
    @Query() query: SessionAggregateQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const scope = visibility(caller);
    if (query.watch && lastEventId !== undefined) {
      // A resumed watch: the client has a snapshot; it gets the events it missed.
      const after = parseSequence(lastEventId);
      if (!(await this.repository.session(this.repository.db, scope, sessionId))) throw ApiError.notFound(`session ${sessionId} not found`);
      this.streams.watchSession(reply, scope, sessionId, after);
      return;
    }
    // One snapshot: the aggregate and the sequence it reflects, so the watch continues without a gap or repeat.
    const aggregate = await this.repository.snapshot((db) => this.repository.aggregate(db, scope, sessionId));
    if (!aggregate) throw ApiError.notFound(`session ${sessionId} not found`);
    if (!query.watch) {
      await reply.send(aggregate);
      return;
    }
    const sequence = aggregate.session.lastSequence;
    this.streams.watchSession(reply, scope, sessionId, sequence, { initial: [{ type: 'snapshot', sequence, aggregate }] });
  }

  @Get('sessions/:sessionId/queries')
  @ApiOperation({
    summary:
      "The session's queries newest first, each with its tool calls, LLM calls and chunk summary; keyset-paginated " +
      "(start from the aggregate's `queries.nextCursor` to read the queries older than the ones it shows)",
  })
  async sessionQueries(@Caller() caller: CallerIdentity, @Param('sessionId') sessionId: string, @Query() query: SessionQueriesQueryDto) {
    const page = await this.repository.sessionQueries(visibility(caller), sessionId, query.limit ?? DEFAULT_QUERY_PAGE_SIZE, query.cursor);
    if (!page) throw ApiError.notFound(`session ${sessionId} not found`);
    return page;
  }

  @Get('queries/:queryId')
  @ApiOperation({ summary: 'One query (by UID, name or key) with its tool calls, LLM calls and chunk summary' })
  async query(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    const found = await this.repository.query(visibility(caller), queryId);
    if (!found) throw ApiError.notFound(`query ${queryId} not found`);
    return found;
  }

  @Get('queries/:queryId/completion')
  @ApiOperation({
    summary:
      'A query\'s completion as OpenAI-compatible SSE: its chunks, its other ark events interleaved as `{type:"event",event}`, then `[DONE]`; live while it runs, replayed after ' +
      '(`?replay=fast`, the default, as fast as the client reads; `?replay=realtime` paced by the recorded event times, gaps capped at `maxGapMs`)',
  })
  @ApiProduces('text/event-stream')
  async completion(
    @Caller() caller: CallerIdentity,
    @Param('queryId') queryId: string,
    @Query() query: CompletionQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const from = (await this.streams.resumeCursor(visibility(caller), lastEventId, undefined)) ?? completionView.from;
    const pace = query.replay === 'realtime' ? { timeOf: completionView.timeOf, maxGapMs: query.maxGapMs ?? DEFAULT_MAX_REPLAY_GAP_MS } : undefined;
    await this.streams.watchQuery(reply, visibility(caller), queryId, from, { format: completionView.format, endAfter: completionView.endAfter, pace });
  }

  @Get('tool-calls')
  @ApiOperation({ summary: 'Tool calls by sessionId, queryId, mcpSessionId or toolName; oldest first, keyset-paginated' })
  async toolCalls(@Caller() caller: CallerIdentity, @Query() query: ListToolCallsQueryDto) {
    return this.repository.listToolCalls(
      visibility(caller),
      { sessionId: query.sessionId, queryId: query.queryId, mcpSessionId: query.mcpSessionId, toolName: query.toolName },
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
  }
}
