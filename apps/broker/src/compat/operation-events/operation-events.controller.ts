import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { watchableAnswer } from '../../openapi/api-schemas.js';
import type { FastifyReply } from 'fastify';
import { FEED_START, type ArkEvent } from '#ark/event-store';
import { compatValidationPipe, validateDto } from '#ark/http';
import type { OperationEvent } from '#ark/normalizer';
import type { ReadScope } from '#ark/database';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { DeleteRecordsCommand } from '../../events/delete-records.command.js';
import { pageOrWatch } from '../../watch/page-or-watch.js';
import { WatchStreamService } from '../../watch/watch-stream.service.js';
import { OperationEventDto } from './operation-event.dto.js';
import { UpstreamFeedQueryDto } from '../upstream-feed-query.dto.js';
import { upstreamPageLimit } from '../upstream-pagination.js';
import { OperationEventsRepository } from './operation-events.repository.js';
import { RecordOperationEventCommand } from './record-operation-event.command.js';

const isOperationEvent = (e: ArkEvent) => e.source === 'operation-event';
const bodyOf = (e: ArkEvent) => (e.data as { operationEvent?: unknown }).operationEvent;

/** Upstream-compatible operation events: `POST /events` from Ark's controller, reads and watches. */
@ApiTags('events (upstream)')
@Controller('events')
@UsePipes(compatValidationPipe())
export class OperationEventsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly events: OperationEventsRepository,
    private readonly streams: WatchStreamService,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Store an operation event (`{timestamp,eventType,reason,message,data:{queryId,…}}`); 201 once committed' })
  @ApiBody({ type: OperationEventDto })
  async record(@Caller() caller: CallerIdentity, @Body() body: unknown): Promise<{ status: 'success' }> {
    validateDto(OperationEventDto, body, 'body', 'passthrough');
    const { ttl_seconds: ttl, ...event } = body as OperationEvent & { ttl_seconds?: unknown };
    await this.commands.execute(new RecordOperationEventCommand(caller, event, ttl === undefined ? undefined : Number(ttl)));
    return { status: 'success' };
  }

  @Get()
  @ApiOperation({ summary: 'Operation events in arrival order; `?session_id=`; `?watch=true` streams them' })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async list(
    @Caller() caller: CallerIdentity,
    @Query() query: UpstreamFeedQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const sessionId = query.session_id;
    await pageOrWatch(reply, query.watch, {
      page: () => this.page(readScopeOf(caller), { sessionId, after: query.cursor, limit: upstreamPageLimit(query.limit) }),
      watch: async () => {
        await this.streams.watchTenant(reply, readScopeOf(caller), await this.streams.resumeCursor(readScopeOf(caller), lastEventId, query.cursor), {
          preamble: ['connected'],
          filter: (e) => isOperationEvent(e) && (sessionId === undefined || e.sessionId === sessionId),
          format: bodyOf,
        });
      },
    });
  }

  @Get(':queryId')
  @ApiOperation({ summary: "One query's operation events; `?watch=true&from-beginning=true` replays then streams" })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async byQuery(
    @Caller() caller: CallerIdentity,
    @Param('queryId') queryId: string,
    @Query() query: UpstreamFeedQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await pageOrWatch(reply, query.watch, {
      page: () => this.page(readScopeOf(caller), { queryId, after: query.cursor, limit: upstreamPageLimit(query.limit) }),
      watch: async () => {
        const from =
          query.fromBeginning && lastEventId === undefined ? FEED_START : await this.streams.resumeCursor(readScopeOf(caller), lastEventId, query.cursor);
        const deletedBefore = await this.events.deletedBefore(readScopeOf(caller), queryId);
        await this.streams.watchQuery(reply, readScopeOf(caller), [queryId], from, {
          preamble: ['connected'],
          filter: (e) => isOperationEvent(e) && e.globalPosition > deletedBefore,
          format: bodyOf,
        });
      },
    });
  }

  @Delete()
  @ApiOperation({ summary: "Delete the caller's operation events (a tombstone in the log hides them)" })
  async purge(@Caller() caller: CallerIdentity): Promise<{ status: 'success'; message: string }> {
    await this.commands.execute(new DeleteRecordsCommand(caller, { collection: 'operation-events' }));
    return { status: 'success', message: 'Event data purged' };
  }

  @Delete(':queryId')
  @ApiOperation({ summary: "Delete one query's operation events" })
  async purgeQuery(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string): Promise<{ status: 'success'; message: string }> {
    await this.commands.execute(new DeleteRecordsCommand(caller, { collection: 'operation-events', queryId }));
    return { status: 'success', message: `Query ${queryId} events deleted` };
  }

  private async page(scope: ReadScope, filter: { sessionId?: string; queryId?: string; after?: number; limit: number }) {
    const { items, hasMore, cut } = await this.events.list(scope, filter);
    return {
      items: items.map((i) => i.body),
      hasMore,
      ...(hasMore ? { nextCursor: items.at(-1)!.position } : {}),
      // Beyond upstream's shape: the page stopped at READ_PAGE_MAX_BYTES (clients that do not know it just follow nextCursor).
      ...(cut ? { cutAt: 'byte_budget' } : {}),
    };
  }
}
