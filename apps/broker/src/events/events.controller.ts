import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { jsonAnswer, schemaRef, watchableAnswer } from '../openapi/api-schemas.js';
import type { FastifyReply } from 'fastify';
import {
  EventLogRepository,
  FEED_START,
  formatFeedCursor,
  parseFeedCursor,
  toArkEventJson,
  type AppendedEvent,
  type ArkEventJson,
  type FeedCursor,
} from '#ark/event-store';
import { InvalidArgumentError, InvalidCursorError, NotFoundError } from '#ark/errors';
import { apiValidationPipe, validateDto } from '#ark/http';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { AppendProducerEventsCommand } from './append-producer-events.command.js';
import { AppendEventDto } from './dto/append-event.dto.js';
import { SessionEventsQueryDto, TenantFeedQueryDto } from './dto/event-queries.dto.js';
import { EventPagesService } from './event-pages.service.js';
import { pageOrWatch, parseSequence } from '../watch/page-or-watch.js';
import { WatchStreamService } from '../watch/watch-stream.service.js';

export const MAX_EVENTS_PER_REQUEST = 1_000;
const DEFAULT_PAGE_SIZE = 100;

export interface EventPageJson {
  items: ArkEventJson[];
  hasMore: boolean;
  nextCursor: string | null;
  /** Present when the page stopped at READ_PAGE_MAX_BYTES before `limit`: continue from nextCursor. */
  cutAt?: 'byte_budget';
}

/** The page's `cutAt`, when the byte budget ended it. */
const cutAt = (page: { cutAtByteBudget: boolean }): Pick<EventPageJson, 'cutAt'> => (page.cutAtByteBudget ? { cutAt: 'byte_budget' } : {});

@ApiTags('events (v2)')
@Controller('v2')
@UsePipes(apiValidationPipe())
export class EventsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly pages: EventPagesService,
    private readonly streams: WatchStreamService,
    private readonly log: EventLogRepository,
  ) {}

  @Post('events')
  @HttpCode(201)
  @ApiOperation({ summary: 'Append producer events (one object or an array); 201 once committed' })
  @ApiBody({ type: [AppendEventDto] })
  @ApiResponse({ status: 201, ...jsonAnswer('AppendedEvents', 'the events committed (or found already there), in the order given') })
  async append(@Caller() caller: CallerIdentity, @Body() body: unknown): Promise<{ items: AppendedEvent[] }> {
    const list = Array.isArray(body) ? body : [body];
    if (list.length === 0) throw new InvalidArgumentError('no events given');
    if (list.length > MAX_EVENTS_PER_REQUEST) {
      throw new InvalidArgumentError(`at most ${MAX_EVENTS_PER_REQUEST} events per request`);
    }
    const dtos = list.map((item, i) => validateDto(AppendEventDto, item, Array.isArray(body) ? `[${i}]` : 'body'));
    const items = await this.commands.execute(new AppendProducerEventsCommand(caller, dtos));
    return { items };
  }

  @Get('sessions/:sessionId/events')
  @ApiOperation({ summary: "A session's events in sequence order; `?watch=true` streams them (SSE, `id:` = sequence)" })
  @ApiResponse({ status: 200, ...watchableAnswer('ArkEventPage', "a page of the session's events", schemaRef('ArkEvent')) })
  async sessionEvents(
    @Caller() caller: CallerIdentity,
    @Param('sessionId') sessionId: string,
    @Query() query: SessionEventsQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const scope = readScopeOf(caller);
    await pageOrWatch(reply, query.watch, {
      page: async (): Promise<EventPageJson> => {
        const page = await this.pages.sessionPage(scope, sessionId, query.after ?? 0, query.limit ?? DEFAULT_PAGE_SIZE, query.types);
        if (!page) throw new NotFoundError(`session ${sessionId} not found`);
        const last = page.events.at(-1);
        return {
          items: page.events.map(toArkEventJson),
          hasMore: page.hasMore,
          nextCursor: page.hasMore && last ? String(last.sequence) : null,
          ...cutAt(page),
        };
      },
      watch: async () => {
        const resumeFrom = lastEventId ?? query.cursor;
        const after = resumeFrom === undefined ? (query.after ?? 0) : parseSequence(resumeFrom, 'cursor');
        // A reader may only watch a session they own; an admin may also watch one that has no events yet.
        if (scope.ownerId !== undefined && !(await this.log.sessionVisible(scope, sessionId))) {
          throw new NotFoundError(`session ${sessionId} not found`);
        }
        this.streams.watchSession(reply, scope, sessionId, after);
      },
    });
  }

  @Get('events')
  @ApiOperation({ summary: "The caller's gap-free event feed across sessions; `?watch=true` streams it (SSE, `id:` = `tx:pos`)" })
  @ApiResponse({ status: 200, ...watchableAnswer('ArkEventPage', "a page of the caller's feed", schemaRef('ArkEvent')) })
  async tenantFeed(
    @Caller() caller: CallerIdentity,
    @Query() query: TenantFeedQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await pageOrWatch(reply, query.watch, {
      page: async (): Promise<EventPageJson> => {
        const after = query.after === undefined ? FEED_START : parseCursor(query.after);
        const page = await this.pages.feedPage(readScopeOf(caller), after, query.limit ?? DEFAULT_PAGE_SIZE);
        const last = page.events.at(-1);
        const next: FeedCursor | undefined = last && { transactionId: BigInt(last.transactionId), globalPosition: last.globalPosition };
        return {
          items: page.events.map(toArkEventJson),
          hasMore: page.hasMore,
          nextCursor: next ? formatFeedCursor(next) : (query.after ?? null),
          ...cutAt(page),
        };
      },
      watch: async () => {
        const resumeFrom = lastEventId ?? query.cursor;
        await this.streams.watchTenant(reply, readScopeOf(caller), resumeFrom === undefined ? undefined : parseCursor(resumeFrom));
      },
    });
  }
}

export function parseCursor(text: string): FeedCursor {
  const cursor = parseFeedCursor(text);
  if (!cursor) throw new InvalidCursorError(`bad cursor ${JSON.stringify(text)}: expected tx:pos`);
  return cursor;
}
