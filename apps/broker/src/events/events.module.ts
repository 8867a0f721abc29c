import { Module } from '@nestjs/common';
import { AppendProducerEventsHandler } from './append-producer-events.command.js';
import { DeleteRecordsHandler } from './delete-records.command.js';
import { EventPagesService } from './event-pages.service.js';
import { EventsController } from './events.controller.js';

/** The native `/v2` event API (append, read, watch the log) and the tombstones of upstream DELETEs. */
@Module({
  controllers: [EventsController],
  providers: [AppendProducerEventsHandler, DeleteRecordsHandler, EventPagesService],
})
export class EventsModule {}
