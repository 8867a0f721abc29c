import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { watchableAnswer } from '../../openapi/api-schemas.js';
import { IsNotEmpty, IsString } from 'class-validator';
import type { FastifyReply } from 'fastify';
import { NotFoundError } from '#ark/errors';
import { MESSAGE_ADDED, SESSION_SIGNALLED, type ArkEvent } from '#ark/event-store';
import { compatValidationPipe, validateDto } from '#ark/http';
import { readRecordsDeleted } from '#ark/normalizer';
import type { ReadScope } from '#ark/database';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { DeleteRecordsCommand } from '../../events/delete-records.command.js';
import { pageOrWatch } from '../../watch/page-or-watch.js';
import { WatchStreamService } from '../../watch/watch-stream.service.js';
import { SessionsQueryDto } from './sessions-query.dto.js';
import { SessionsRepository, type SessionFilters } from './sessions.repository.js';
import { SignalSessionCommand } from './signal-session.command.js';
import { upstreamPageCursor, upstreamPageLimit } from '../upstream-pagination.js';

class SessionSignalDto {
  @IsString()
  @IsNotEmpty()
  sessionId!: string;
}

/** Events that can change a session entry (see SessionQueriesProjector); deletions touch them all. */
function sessionKeyOf(e: ArkEvent): string | undefined {
  if (readRecordsDeleted(e)?.collection === 'sessions') return '*';
  return e.source === 'operation-event' || e.type === SESSION_SIGNALLED || e.type === MESSAGE_ADDED ? e.sessionId : undefined;
}

const parseDate = (text: string | undefined) => (text === undefined ? undefined : new Date(text));

/** Upstream-compatible sessions API (docs/upstream-compat.md §6). */
@ApiTags('sessions (upstream)')
@Controller('sessions')
@UsePipes(compatValidationPipe())
export class SessionsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly sessions: SessionsRepository,
    private readonly streams: WatchStreamService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Whole store `{sessions:{…}}`, or with limit/cursor a filtered page with statusCounts; `?watch=true` streams entries' })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async list(
    @Caller() caller: CallerIdentity,
    @Query() query: SessionsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const scope = readScopeOf(caller);
    await pageOrWatch(reply, query.watch, {
      page: () => this.page(scope, query),
      watch: async () => {
        const only = query.session_id;
        const current = only === undefined ? await this.sessions.all(scope) : await this.sessions.entries(scope, [only]);
        await this.streams.watchTenantState(reply, scope, await this.streams.resumeCursor(scope, lastEventId, undefined), {
          preamble: ['connected'],
          initial: lastEventId === undefined ? current.map((session) => ({ sessionId: session.sessionId, session })) : [],
          keyOf: (e) => {
            const key = sessionKeyOf(e);
            return only === undefined || key === only || key === '*' ? key : undefined;
          },
          load: async (keys) => {
            const entries = keys.includes('*') ? await this.sessions.all(scope) : await this.sessions.entries(scope, keys);
            return entries.map((session) => ({ sessionId: session.sessionId, session }));
          },
        });
      },
    });
  }

  @Get(':sessionId')
  @ApiOperation({ summary: 'One session entry (queries, conversations, participants); 404 when unknown' })
  async get(@Caller() caller: CallerIdentity, @Param('sessionId') sessionId: string) {
    const [entry] = await this.sessions.entries(readScopeOf(caller), [sessionId]);
    if (!entry) throw new NotFoundError('Session not found');
    return entry;
  }

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Apply a session event (`{sessionId, queryName, _reason, …}`), as upstream' })
  async signal(@Caller() caller: CallerIdentity, @Body() body: unknown): Promise<{ status: 'success' }> {
    const { sessionId } = validateDto(SessionSignalDto, body, 'body', 'passthrough');
    await this.commands.execute(new SignalSessionCommand(caller, sessionId, body));
    return { status: 'success' };
  }

  @Delete()
  @ApiOperation({ summary: "Delete the caller's session entries (a tombstone in the log)" })
  async purge(@Caller() caller: CallerIdentity): Promise<{ status: 'success'; message: string }> {
    await this.commands.execute(new DeleteRecordsCommand(caller, { collection: 'sessions' }));
    return { status: 'success', message: 'Sessions purged' };
  }

  @Delete('queries/:queryId')
  @ApiOperation({ summary: 'Remove a query (name or UID) from every session' })
  async removeQuery(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    const removed = await this.sessions.sessionsWithQuery({ tenantId: caller.tenantId }, queryId);
    if (removed > 0) await this.commands.execute(new DeleteRecordsCommand(caller, { collection: 'sessions', queryId }));
    return { status: 'success', message: `Query ${queryId} removed from ${removed} session(s)`, removed };
  }

  /** The whole store, or with limit/cursor a filtered page with the status counts. */
  private async page(scope: ReadScope, query: SessionsQueryDto) {
    if (query.limit === undefined && query.cursor === undefined) {
      const entries = await this.sessions.all(scope);
      return { sessions: Object.fromEntries(entries.map((e) => [e.sessionId, e])) };
    }
    const filters: SessionFilters = {
      status: query.status,
      dateFrom: parseDate(query.dateFrom),
      dateTo: parseDate(query.dateTo),
      search: query.search,
      sort: query.sort,
      order: query.order,
    };
    const limit = upstreamPageLimit(query.limit);
    const offset = upstreamPageCursor(query.cursor) ?? 0;
    // Upstream compares with an unparseable date and so matches nothing.
    const unmatchable = [filters.dateFrom, filters.dateTo].some((d) => d && Number.isNaN(d.getTime()));
    const page = unmatchable
      ? { items: [], total: 0, hasMore: false, statusCounts: { active: 0, idle: 0, error: 0 } }
      : await this.sessions.page(scope, filters, offset, limit);
    return {
      items: page.items,
      total: page.total,
      hasMore: page.hasMore,
      ...(page.hasMore ? { nextCursor: offset + limit } : {}),
      statusCounts: page.statusCounts,
    };
  }
}
