import { Module } from '@nestjs/common';
import { DeleteMessagesHandler } from './delete-messages.command.js';
import { MemoryController } from './memory.controller.js';
import { MemoryRepository } from './memory.repository.js';
import { MessageWatchService } from './message-watch.service.js';
import { PostMessagesHandler } from './post-messages.command.js';

/** The upstream-compatible memory API (messages, conversations, memory status) over the `messages` read model. */
@Module({
  controllers: [MemoryController],
  providers: [MemoryRepository, MessageWatchService, PostMessagesHandler, DeleteMessagesHandler],
})
export class MemoryModule {}
