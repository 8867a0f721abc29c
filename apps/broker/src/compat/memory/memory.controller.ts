import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Query, Res, UsePipes } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { watchableAnswer } from '../../openapi/api-schemas.js';
import type { FastifyReply } from 'fastify';
import { NotFoundError } from '#ark/errors';
import { compatValidationPipe, validateDto } from '#ark/http';
import type { MessagesDeletedData } from '#ark/normalizer';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { DeleteMessagesCommand } from './delete-messages.command.js';
import { ListMessagesQueryDto, pageCursor, pageLimit, PostMessagesDto } from './dto/messages.dto.js';
import { MemoryRepository } from './memory.repository.js';
import { MessageWatchService } from './message-watch.service.js';
import { pageOrWatch } from '../../watch/page-or-watch.js';
import { messageRowItem, type MessageItem } from './message-views.js';
import { PostMessagesCommand } from './post-messages.command.js';

interface DeletedAnswer {
  status: 'success';
  message: string;
}

/** The upstream memory API: messages, conversations and memory status, all scoped to the caller's tenant. */
@ApiTags('memory (upstream)')
@Controller()
@UsePipes(compatValidationPipe())
export class MemoryController {
  constructor(
    private readonly commands: CommandBus,
    private readonly memory: MemoryRepository,
    private readonly watches: MessageWatchService,
  ) {}

  @Post('messages')
  @ApiOperation({ summary: 'Store messages of a conversation; 200 with an empty body once committed. A retried request is a no-op.' })
  @ApiBody({ type: PostMessagesDto })
  async postMessages(@Caller() caller: CallerIdentity, @Body() body: unknown, @Res() reply: FastifyReply): Promise<void> {
    const dto = validateDto(PostMessagesDto, body, 'body', 'lenient');
    await this.commands.execute(
      new PostMessagesCommand(caller, {
        conversationId: dto.conversation_id,
        queryId: dto.query_id,
        messages: dto.messages,
        ttlSeconds: dto.ttl_seconds,
      }),
    );
    await reply.status(200).send();
  }

  @Get('messages')
  @ApiOperation({
    summary: 'Messages ascending by `sequence` `{items,total,hasMore,nextCursor}`; `?watch=true` streams new ones (SSE, `id:` = `tx:pos`)',
  })
  @ApiResponse({ status: 200, ...watchableAnswer('UpstreamBody', 'the upstream answer', {}) })
  async listMessages(
    @Caller() caller: CallerIdentity,
    @Query() query: ListMessagesQueryDto,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const cursor = pageCursor(query.cursor);
    await pageOrWatch(reply, query.watch, {
      page: async () => {
        const limit = pageLimit(query.limit);
        const filter = { conversationId: query.conversation_id, queryId: query.query_id };
        const [page, total] = await Promise.all([
          this.memory.listMessages(readScopeOf(caller), filter, cursor ?? 0, limit),
          this.memory.countMessages(readScopeOf(caller), filter),
        ]);
        const last = page.rows.at(-1);
        return {
          items: page.rows.map(messageRowItem),
          total,
          hasMore: page.hasMore,
          ...(page.hasMore && last ? { nextCursor: last.global_position } : {}),
          // Beyond upstream's shape: the page stopped at READ_PAGE_MAX_BYTES (clients that do not know it just follow nextCursor).
          ...(page.cut ? { cutAt: 'byte_budget' } : {}),
        };
      },
      watch: () => this.watches.watch(reply, readScopeOf(caller), { conversationId: query.conversation_id, lastEventId, cursor }),
    });
  }

  @Delete('messages')
  @ApiOperation({ summary: "Delete all of the caller's messages" })
  async purgeMessages(@Caller() caller: CallerIdentity): Promise<DeletedAnswer> {
    return this.delete(caller, {}, 'Memory purged');
  }

  @Get('memory-status')
  @ApiOperation({ summary: 'Message and distinct query counts per conversation' })
  async memoryStatus(@Caller() caller: CallerIdentity): Promise<{
    total_conversations: number;
    total_messages: number;
    conversations: Record<string, { message_count: number; query_count: number }>;
  }> {
    const stats = await this.memory.conversationStats(readScopeOf(caller));
    return {
      total_conversations: stats.length,
      total_messages: stats.reduce((n, s) => n + s.messageCount, 0),
      conversations: Object.fromEntries(stats.map((s) => [s.conversationId, { message_count: s.messageCount, query_count: s.queryCount }])),
    };
  }

  @Get('conversations')
  @ApiOperation({ summary: 'Conversation ids in first-seen order' })
  async listConversations(@Caller() caller: CallerIdentity): Promise<{ conversations: string[] }> {
    return { conversations: await this.memory.conversationIds(readScopeOf(caller)) };
  }

  @Post('conversations')
  @HttpCode(201)
  @ApiOperation({ summary: 'A new conversation id (nothing is stored until messages are posted to it)' })
  createConversation(): { conversation_id: string } {
    return { conversation_id: randomUUID() };
  }

  @Delete('conversations')
  @ApiOperation({ summary: "Delete all of the caller's conversations (all messages)" })
  async deleteConversations(@Caller() caller: CallerIdentity): Promise<DeletedAnswer> {
    return this.delete(caller, {}, 'All conversations deleted');
  }

  @Get('conversations/:conversationId')
  @ApiOperation({ summary: 'All messages of a conversation (404 when it has none)' })
  async getConversation(
    @Caller() caller: CallerIdentity,
    @Param('conversationId') conversationId: string,
  ): Promise<{ conversation_id: string; messages: MessageItem[] }> {
    const rows = await this.memory.conversationMessages(readScopeOf(caller), conversationId);
    if (rows.length === 0) throw new NotFoundError('Conversation not found');
    return { conversation_id: conversationId, messages: rows.map(messageRowItem) };
  }

  @Delete('conversations/:conversationId')
  @ApiOperation({ summary: "Delete a conversation's messages (200 even when it has none)" })
  async deleteConversation(@Caller() caller: CallerIdentity, @Param('conversationId') conversationId: string): Promise<DeletedAnswer> {
    return this.delete(caller, { conversationId }, `Conversation ${conversationId} deleted`);
  }

  @Delete('conversations/:conversationId/queries/:queryId/messages')
  @ApiOperation({ summary: "Delete one query's messages in one conversation" })
  async deleteConversationQueryMessages(
    @Caller() caller: CallerIdentity,
    @Param('conversationId') conversationId: string,
    @Param('queryId') queryId: string,
  ): Promise<DeletedAnswer> {
    return this.delete(caller, { conversationId, queryId }, `Query ${queryId} messages deleted from conversation ${conversationId}`);
  }

  @Delete('queries/:queryId/messages')
  @ApiOperation({ summary: "Delete one query's messages in every conversation" })
  async deleteQueryMessages(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string): Promise<DeletedAnswer> {
    return this.delete(caller, { queryId }, `Query ${queryId} messages deleted`);
  }

  private async delete(caller: CallerIdentity, scope: MessagesDeletedData, message: string): Promise<DeletedAnswer> {
    await this.commands.execute(new DeleteMessagesCommand(caller, scope));
    return { status: 'success', message };
  }
}
