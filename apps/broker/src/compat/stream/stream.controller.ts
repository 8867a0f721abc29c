import { Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Req, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { RouteConfig } from '@nestjs/platform-fastify';
import { ApiBody, ApiConsumes, ApiHeader, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { sseAnswer, watchableAnswer } from '../../openapi/api-schemas.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { InvalidArgumentError, NotFoundError } from '#ark/errors';
import { FEED_START, type ArkEvent } from '#ark/event-store';
import { compatValidationPipe } from '#ark/http';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { DeleteRecordsCommand } from '../../events/delete-records.command.js';
import { pageOrWatch } from '../../watch/page-or-watch.js';
import { WatchStreamService } from '../../watch/watch-stream.service.js';
import { ChunkStreamRepository } from './chunk-stream.repository.js';
import { ChunkUploadService } from './chunk-upload.service.js';
import { chunkIndexOf, chunkItem, DONE, queryStreamEnd, queryStreamFrame, tenantStreamFrame, WAIT_TIMEOUT_CHUNK } from './chunk-views.js';
import { CompleteChunkStreamCommand, type StreamCompletion } from './complete-stream.command.js';
import { ChunkListParamsDto, chunkPageParams, QueryStreamParamsDto } from './dto/stream-queries.dto.js';
import { LiveChunkRelay } from './live-chunk-relay.js';
import { STREAMED_BODY } from './streamed-body.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,200}$/;
/** Upstream clamps `wait-for-query` to 1–300 s. */
const clampWaitMs = (seconds: number) => Math.min(Math.max(seconds * 1000, 1_000), 300_000);

/** Chunk events the upstream views show: those above the tenant's purge watermark. */
const visibleChunk = (purgedThrough: number) => (e: ArkEvent) => e.source === 'chunk' && e.globalPosition > purgedThrough;

/** Upstream-compatible LLM completion chunk streams (`/stream`), durable in the event log. */
@ApiTags('stream (upstream)')
@Controller('stream')
@UsePipes(compatValidationPipe())
export class StreamController {
  constructor(
    private readonly commands: CommandBus,
    private readonly uploads: ChunkUploadService,
    private readonly chunks: ChunkStreamRepository,
    private readonly streams: WatchStreamService,
    private readonly live: LiveChunkRelay,
  ) {}

  @Post(':query')
  @HttpCode(200)
  @RouteConfig(STREAMED_BODY)
  @ApiOperation({ summary: 'Upload chunks as NDJSON (one long chunked request or one per chunk); 200 once every line is committed' })
  @ApiConsumes('application/x-ndjson', 'application/json', 'text/plain')
  @ApiBody({ schema: { type: 'string', example: '{"choices":[{"delta":{"content":"Hi"}}]}\n' } })
  @ApiHeader({ name: 'Idempotency-Key', required: false, description: 'resending the same body with the same key stores nothing new' })
  async upload(
    @Caller() caller: CallerIdentity,
    @Param('query') queryId: string,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ status: 'stream_processed'; query: string; chunks_received: number; skipped_lines?: number }> {
    if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
      throw new InvalidArgumentError('Idempotency-Key must be 1-200 visible ASCII characters');
    }
    try {
      const result = await this.uploads.upload(request.body as Readable, { caller, queryId, idempotencyKey });
      // Cut short by shutdown: the unread rest of the body must not keep this connection (and the
      // shutdown) open, and the producer's next request must go to another replica.
      if (result.interrupted) void reply.header('connection', 'close');
      return {
        status: 'stream_processed',
        query: queryId,
        chunks_received: result.chunksReceived,
        ...(result.skippedLines > 0 ? { skipped_lines: result.skippedLines } : {}),
      };
    } catch (error) {
      // The rest of the body may be unread: close the connection after the answer instead of
      // leaving the producer blocked on a body nobody reads.
      void reply.header('connection', 'close');
      throw error;
    }
  }

  @Post(':query/complete')
  @HttpCode(200)
  @RouteConfig(STREAMED_BODY) // upstream reads no body: any content type is fine
  @ApiOperation({ summary: 'Mark the stream complete (`completed`, or `already_completed`); 404 when the query has no chunk' })
  async complete(@Caller() caller: CallerIdentity, @Param('query') queryId: string): Promise<{ status: StreamCompletion; query: string }> {
    const status = await this.commands.execute(new CompleteChunkStreamCommand(caller, queryId));
    if (!status) throw new NotFoundError('Stream not found');
    return { status, query: queryId };
  }

  @Get(':query')
  @ApiOperation({
    summary: "SSE of the query's chunks (`data: <chunk>` … `data: [DONE]`); `id:` = `tx:pos`, resumable with Last-Event-ID",
  })
  @ApiResponse({ status: 200, ...sseAnswer('upstream chunk lines: `data: <chunk JSON>` … `data: [DONE]`', {}) })
  async read(
    @Caller() caller: CallerIdentity,
    @Param('query') queryId: string,
    @Query() params: QueryStreamParamsDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const scope = readScopeOf(caller);
    const resumeFrom = await this.streams.resumeCursor(scope, lastEventId, undefined);
    const purgedThrough = await this.chunks.purgedThrough(scope);
    // Live chunks only to a tenant-wide scope: whose session a chunk lands in is known once it is stored.
    const ahead =
      scope.ownerId === undefined
        ? {
            subscribe: (send: (key: number, data: unknown) => void) => this.live.subscribe(scope.tenantId, queryId, (c) => send(c.index, c.chunk)),
            keyOf: chunkIndexOf,
          }
        : undefined;
    await this.streams.watchQuery(reply, scope, [queryId], resumeFrom ?? (params.fromBeginning ? FEED_START : undefined), {
      filter: visibleChunk(purgedThrough),
      format: queryStreamFrame,
      ...(ahead ? { ahead } : {}),
      endAfter: queryStreamEnd,
      endUnlessEventWithin: params.waitForQuery === undefined ? undefined : { ms: clampWaitMs(params.waitForQuery), messages: [WAIT_TIMEOUT_CHUNK, DONE] },
    });
  }

  @Get()
  @ApiOperation({ summary: 'All stored chunk items `{items,total,hasMore,nextCursor}` ascending; `?watch=true` streams them (SSE)' })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async list(
    @Caller() caller: CallerIdentity,
    @Query() params: ChunkListParamsDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // Upstream streams for `watch=true` only; any other value answers a page.
    await pageOrWatch(reply, params.watch === 'true', {
      page: async () => {
        const { limit, cursor } = chunkPageParams(params);
        const { chunks, total } = await this.chunks.page(readScopeOf(caller), cursor, limit + 1);
        const items = chunks.slice(0, limit).map(chunkItem);
        const hasMore = chunks.length > limit;
        return { items, total, hasMore, ...(hasMore ? { nextCursor: items.at(-1)!.sequenceNumber } : {}) };
      },
      watch: async () => {
        const resumeFrom = await this.streams.resumeCursor(readScopeOf(caller), lastEventId, undefined);
        const purgedThrough = await this.chunks.purgedThrough(readScopeOf(caller));
        await this.streams.watchTenant(reply, readScopeOf(caller), resumeFrom, {
          preamble: ['connected'],
          filter: visibleChunk(purgedThrough),
          format: tenantStreamFrame,
        });
      },
    });
  }

  @Delete()
  @ApiOperation({ summary: 'Hide every chunk stored so far from these upstream views (the event log keeps them; see docs)' })
  async purge(@Caller() caller: CallerIdentity): Promise<{ status: 'success'; message: string }> {
    await this.commands.execute(new DeleteRecordsCommand(caller, { collection: 'stream' }));
    return { status: 'success', message: 'Stream data purged' };
  }
}
