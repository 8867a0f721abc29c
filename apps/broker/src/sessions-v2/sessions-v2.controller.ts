import { Controller, Get, Headers, Param, Query, Res, UsePipes } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { jsonAnswer, schemaRef, sseAnswer, watchableAnswer } from '../openapi/api-schemas.js';
import type { FastifyReply } from 'fastify';
import { apiValidationPipe } from '#ark/http';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { completionView } from './query-completion.js';
import { pageOrWatch, parseSequence } from '../watch/page-or-watch.js';
import { WatchStreamService } from '../watch/watch-stream.service.js';
import {
  CompletionQueryDto,
  DEFAULT_MAX_REPLAY_GAP_MS,
  ListSessionsQueryDto,
  ListToolCallsQueryDto,
  SessionAggregateQueryDto,
  SessionQueriesQueryDto,
} from './dto/sessions-v2.dto.js';
import { ResumeContextService } from './resume-context.service.js';
import { SessionsV2Service } from './sessions-v2.service.js';

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_QUERY_PAGE_SIZE = 20;

/** The native sessions API over the queries / tool calls / LLM calls read models (docs/read-models.md). */
@ApiTags('sessions (v2)')
@Controller('v2')
@UsePipes(apiValidationPipe())
export class SessionsV2Controller {
  constructor(
    private readonly sessions: SessionsV2Service,
    private readonly resume: ResumeContextService,
    private readonly streams: WatchStreamService,
  ) {}

  @Get('sessions')
  @ApiResponse({ status: 200, ...jsonAnswer('SessionPage', 'a page of sessions') })
  @ApiOperation({ summary: 'Sessions, newest activity first, keyset-paginated; filters status, userId, namespace, from/to, search, agent, hasErrors' })
  async list(@Caller() caller: CallerIdentity, @Query() query: ListSessionsQueryDto) {
    return this.sessions.listSessions(
      readScopeOf(caller),
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
  @ApiResponse({
    status: 200,
    ...watchableAnswer('SessionAggregate', 'the session aggregate', { oneOf: [schemaRef('SessionSnapshotMessage'), schemaRef('ArkEvent')] }),
  })
  async get(
    @Caller() caller: CallerIdentity,
    @Param('sessionId') sessionId: string,
    @Query() query: SessionAggregateQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await pageOrWatch(reply, query.watch, {
      page: () => this.sessions.aggregate(readScopeOf(caller), sessionId),
      watch: () => this.watchAggregate(reply, caller, sessionId, lastEventId),
    });
  }

  @Get('sessions/:sessionId/queries')
  @ApiResponse({ status: 200, ...jsonAnswer('QueryWithCallsPage', "a page of the session's queries") })
  @ApiOperation({
    summary:
      "The session's queries newest first, each with its tool calls, LLM calls and chunk summary; keyset-paginated " +
      "(start from the aggregate's `queries.nextCursor` to read the queries older than the ones it shows)",
  })
  async sessionQueries(@Caller() caller: CallerIdentity, @Param('sessionId') sessionId: string, @Query() query: SessionQueriesQueryDto) {
    return this.sessions.sessionQueries(readScopeOf(caller), sessionId, query.limit ?? DEFAULT_QUERY_PAGE_SIZE, query.cursor);
  }

  @Get('sessions/:sessionId/messages')
  @ApiResponse({ status: 200, ...jsonAnswer('SessionMessagePage', "a page of the session's messages") })
  @ApiOperation({
    summary:
      "The session's conversation messages newest first; keyset-paginated (start from the aggregate's `messages.nextCursor` for the ones older than it shows)",
  })
  async sessionMessages(@Caller() caller: CallerIdentity, @Param('sessionId') sessionId: string, @Query() query: SessionQueriesQueryDto) {
    return this.sessions.sessionMessages(readScopeOf(caller), sessionId, query.limit ?? DEFAULT_QUERY_PAGE_SIZE, query.cursor);
  }

  @Get('queries/:queryId')
  @ApiResponse({ status: 200, ...jsonAnswer('QueryDetail', 'the query') })
  @ApiOperation({ summary: 'One query (by UID, name or key) with its tool calls, LLM calls and chunk summary' })
  async query(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    return this.sessions.query(readScopeOf(caller), queryId);
  }

  @Get('queries/:queryId/resume-context')
  @ApiOperation({
    summary:
      "What an executor needs to resume or replay a query: its input and target, its conversation's messages, every tool call with parameters and result, " +
      'MCP session and task ids and A2A tasks seen, pending approvals, the last LLM completion assembled from its chunks, and where it stopped (docs/api.md)',
  })
  async resumeContext(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    return this.resume.resumeContext(readScopeOf(caller), queryId);
  }

  @Get('queries/:queryId/completion')
  @ApiOperation({
    summary:
      'A query\'s completion as OpenAI-compatible SSE: its chunks, its other ark events interleaved as `{type:"event",event}`, then `[DONE]`; live while it runs, replayed after ' +
      '(`?replay=fast`, the default, as fast as the client reads; `?replay=realtime` paced by the recorded event times, gaps capped at `maxGapMs`)',
  })
  @ApiResponse({
    status: 200,
    ...sseAnswer('`chat.completion.chunk` objects, `{type:"event",event}` for other ark events, then `[DONE]` (not JSON)', {
      oneOf: [{ type: 'object', description: 'an OpenAI chat.completion.chunk' }, schemaRef('CompletionEventMessage')],
    }),
  })
  async completion(
    @Caller() caller: CallerIdentity,
    @Param('queryId') queryId: string,
    @Query() query: CompletionQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const from = (await this.streams.resumeCursor(readScopeOf(caller), lastEventId, undefined)) ?? completionView.from;
    const pace = query.replay === 'realtime' ? { timeOf: completionView.timeOf, maxGapMs: query.maxGapMs ?? DEFAULT_MAX_REPLAY_GAP_MS } : undefined;
    const source = await this.sessions.completionSource(readScopeOf(caller), queryId);
    await this.streams.watchQuery(reply, readScopeOf(caller), source.ids, from, {
      filter: source.accepts,
      format: completionView.format,
      endAfter: completionView.endAfter(source.streamed),
      pace,
    });
  }

  @Get('tool-calls')
  @ApiResponse({ status: 200, ...jsonAnswer('ToolCallPage', 'a page of tool calls') })
  @ApiOperation({ summary: 'Tool calls by sessionId, queryId, mcpSessionId or toolName; oldest first, keyset-paginated' })
  async toolCalls(@Caller() caller: CallerIdentity, @Query() query: ListToolCallsQueryDto) {
    return this.sessions.listToolCalls(
      readScopeOf(caller),
      { sessionId: query.sessionId, queryId: query.queryId, mcpSessionId: query.mcpSessionId, toolName: query.toolName },
      query.limit ?? DEFAULT_PAGE_SIZE,
      query.cursor,
    );
  }

  /**
   * The aggregate as one snapshot message, then the session's events from the sequence it reflects
   * (no gap, no repeat); resumed with Last-Event-ID, only the events the client missed.
   */
  private async watchAggregate(reply: FastifyReply, caller: CallerIdentity, sessionId: string, lastEventId: string | undefined): Promise<void> {
    const scope = readScopeOf(caller);
    if (lastEventId !== undefined) {
      const after = parseSequence(lastEventId, 'Last-Event-ID');
      await this.sessions.session(scope, sessionId);
      this.streams.watchSession(reply, readScopeOf(caller), sessionId, after);
      return;
    }
    const aggregate = await this.sessions.aggregate(scope, sessionId);
    const sequence = aggregate.session.lastSequence;
    this.streams.watchSession(reply, readScopeOf(caller), sessionId, sequence, { initial: [{ type: 'snapshot', sequence, aggregate }] });
  }
}
