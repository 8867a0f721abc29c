import { Module } from '@nestjs/common';
import { AppendProducerEventsHandler } from './append-producer-events.command.js';
import { AppendTopicEventsHandler } from './append-topic-events.command.js';
import { DeleteRecordsHandler } from './delete-records.command.js';
import { EventPagesService } from './event-pages.service.js';
import { EventsController } from './events.controller.js';
import { TopicsController } from './topics.controller.js';

/** The native `/v2` event API (append, read, watch the log; custom topics) and the tombstones of upstream DELETEs. */
@Module({
  controllers: [EventsController, TopicsController],
  providers: [AppendProducerEventsHandler, AppendTopicEventsHandler, DeleteRecordsHandler, EventPagesService],
})
export class EventsModule {}
