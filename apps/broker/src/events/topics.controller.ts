import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBody, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CUSTOM_TOPIC_NAME, customTopicType, FEED_START, formatFeedCursor, toArkEventJson, type AppendedEvent } from '#ark/event-store';
import { InvalidArgumentError } from '#ark/errors';
import { apiValidationPipe, validateDto } from '#ark/http';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { AppendTopicEventsCommand } from './append-topic-events.command.js';
import { TenantFeedQueryDto } from './dto/event-queries.dto.js';
import { TopicEventDto } from './dto/topic-event.dto.js';
import { EventPagesService } from './event-pages.service.js';
import { MAX_EVENTS_PER_REQUEST, parseCursor, type EventPageJson } from './events.controller.js';
import { pageOrWatch } from '../watch/page-or-watch.js';
import { WatchStreamService } from '../watch/watch-stream.service.js';

const DEFAULT_PAGE_SIZE = 100;

function topicType(name: string): string {
  if (!CUSTOM_TOPIC_NAME.test(name)) {
    throw new InvalidArgumentError(`bad topic name ${JSON.stringify(name)}: lower-case dotted words ([a-z][a-z0-9_-]*, dot-separated), at most 100 characters`);
  }
  return customTopicType(name);
}

/** Custom topics: producers' own event streams (`custom.<name>` events), paged and watched in feed order. */
@ApiTags('events (v2)')
@Controller('v2/streams')
@UsePipes(apiValidationPipe())
export class TopicsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly pages: EventPagesService,
    private readonly streams: WatchStreamService,
  ) {}

  @Post(':name')
  @HttpCode(201)
  @ApiOperation({ summary: 'Append events of a custom topic (`custom.<name>`; one object or an array); 201 once committed' })
  @ApiBody({ type: [TopicEventDto] })
  async append(@Caller() caller: CallerIdentity, @Param('name') name: string, @Body() body: unknown): Promise<{ items: AppendedEvent[] }> {
    topicType(name);
    const list = Array.isArray(body) ? body : [body];
    if (list.length === 0) throw new InvalidArgumentError('no events given');
    if (list.length > MAX_EVENTS_PER_REQUEST) throw new InvalidArgumentError(`at most ${MAX_EVENTS_PER_REQUEST} events per request`);
    const dtos = list.map((item, i) => validateDto(TopicEventDto, item, Array.isArray(body) ? `[${i}]` : 'body'));
    return { items: await this.commands.execute(new AppendTopicEventsCommand(caller, name, dtos)) };
  }

  @Get(':name')
  @ApiOperation({ summary: "A custom topic's events in feed order (`?after=tx:pos`); `?watch=true` streams them (SSE, `id:` = `tx:pos`, resumable)" })
  @ApiProduces('application/json', 'text/event-stream')
  async read(
    @Caller() caller: CallerIdentity,
    @Param('name') name: string,
    @Query() query: TenantFeedQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const type = topicType(name);
    const scope = readScopeOf(caller);
    await pageOrWatch(reply, query.watch, {
      page: async (): Promise<EventPageJson> => {
        const page = await this.pages.typePage(
          scope,
          type,
          query.after === undefined ? FEED_START : parseCursor(query.after),
          query.limit ?? DEFAULT_PAGE_SIZE,
        );
        const last = page.events.at(-1);
        const next = last && formatFeedCursor({ transactionId: BigInt(last.transactionId), globalPosition: last.globalPosition });
        return { items: page.events.map(toArkEventJson), hasMore: page.hasMore, nextCursor: next ?? query.after ?? null };
      },
      watch: async () => {
        const resumeFrom = lastEventId ?? query.cursor;
        await this.streams.watchType(reply, scope, type, resumeFrom === undefined ? undefined : parseCursor(resumeFrom));
      },
    });
  }
}
