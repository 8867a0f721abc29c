import { Controller, Delete, Get, Headers, Param, Query, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { watchableAnswer } from '../../openapi/api-schemas.js';
import type { FastifyReply } from 'fastify';
import { NotFoundError } from '#ark/errors';
import type { ArkEvent } from '#ark/event-store';
import { compatValidationPipe } from '#ark/http';
import type { OtlpSpan } from '#ark/otlp';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { DeleteRecordsCommand } from '../../events/delete-records.command.js';
import { pageOrWatch } from '../../watch/page-or-watch.js';
import { WatchStreamService } from '../../watch/watch-stream.service.js';
import { UpstreamFeedQueryDto } from '../upstream-feed-query.dto.js';
import { upstreamPageLimit } from '../upstream-pagination.js';
import { otlpSpanItem } from './span-item.js';
import { TracesRepository } from './traces.repository.js';

const spanOf = (e: ArkEvent) => (e.source === 'otlp' ? (e.data as { span?: OtlpSpan }).span : undefined);
/** Module-level, so the watch service serialises each span once for all watchers. */
const spanItemOf = (e: ArkEvent) => otlpSpanItem(spanOf(e)!);

/** Upstream-compatible trace reads: `GET /traces`, `GET /traces/:traceId`, both watchable. */
@ApiTags('traces (upstream)')
@Controller('traces')
@UsePipes(compatValidationPipe())
export class TracesController {
  constructor(
    private readonly commands: CommandBus,
    private readonly traces: TracesRepository,
    private readonly streams: WatchStreamService,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Traces newest first `{items:[{traceId,spans}],total,hasMore,nextCursor}`; `?watch=true` streams spans' })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async list(
    @Caller() caller: CallerIdentity,
    @Query() query: UpstreamFeedQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const sessionId = query.session_id;
    await pageOrWatch(reply, query.watch, {
      page: async () => {
        const page = await this.traces.listTraces(readScopeOf(caller), {
          arkSessionId: sessionId,
          before: query.cursor,
          limit: upstreamPageLimit(query.limit),
        });
        return {
          items: page.traces.map((t) => ({ traceId: t.traceId, spans: t.spans.map(otlpSpanItem) })),
          total: page.total,
          hasMore: page.hasMore,
          ...(page.hasMore ? { nextCursor: page.lastFirstPosition } : {}),
        };
      },
      watch: async () => {
        await this.streams.watchTenant(reply, readScopeOf(caller), await this.streams.resumeCursor(readScopeOf(caller), lastEventId, query.cursor), {
          preamble: ['connected'],
          filter: (e) => {
            const span = spanOf(e);
            return span !== undefined && (sessionId === undefined || span.attributes['ark.session.id'] === sessionId);
          },
          format: spanItemOf,
        });
      },
    });
  }

  @Get(':traceId')
  @ApiOperation({ summary: 'One trace `{traceId,spans}` (404 when unknown); `?watch=true` streams its spans' })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async get(
    @Caller() caller: CallerIdentity,
    @Param('traceId') traceId: string,
    @Query() query: UpstreamFeedQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    await pageOrWatch(reply, query.watch, {
      page: async () => {
        const spans = await this.traces.trace(readScopeOf(caller), traceId);
        if (spans.length === 0) throw new NotFoundError('Trace not found');
        return { traceId, spans: spans.map(otlpSpanItem) };
      },
      watch: () => this.watchTrace(reply, caller, traceId, query, lastEventId),
    });
  }

  @Delete()
  @ApiOperation({ summary: "Delete the caller's traces (a tombstone in the log; trace reads skip what it covers)" })
  async purge(@Caller() caller: CallerIdentity): Promise<{ status: 'success'; message: string }> {
    await this.commands.execute(new DeleteRecordsCommand(caller, { collection: 'traces' }));
    return { status: 'success', message: 'Trace data purged' };
  }

  /** The trace's spans as they commit; with `from-beginning` (and no resume id) its stored spans first. */
  private async watchTrace(
    reply: FastifyReply,
    caller: CallerIdentity,
    traceId: string,
    query: UpstreamFeedQueryDto,
    lastEventId: string | undefined,
  ): Promise<void> {
    const filter = (e: ArkEvent) => spanOf(e)?.traceId === traceId;
    const format = spanItemOf;
    if (query.fromBeginning && lastEventId === undefined) {
      // The stored spans, then what commits after the moment taken before reading them.
      const start = await this.streams.start(undefined, filter);
      const stored = await this.traces.trace(readScopeOf(caller), traceId);
      await this.streams.watchTenant(reply, readScopeOf(caller), start.from, {
        preamble: ['connected'],
        initial: stored.map(otlpSpanItem),
        filter: start.filter,
        format,
      });
      return;
    }
    await this.streams.watchTenant(reply, readScopeOf(caller), await this.streams.resumeCursor(readScopeOf(caller), lastEventId, query.cursor), {
      preamble: ['connected'],
      filter,
      format,
    });
  }
}
