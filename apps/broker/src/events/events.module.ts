import { Module } from '@nestjs/common';
import { AppendEventsHandler } from './append-events.command.js';
import { ReadSessionEventsHandler, ReadTenantFeedHandler } from './event-queries.js';
import { EventsController } from './events.controller.js';

/** The native `/v2` event API: append, read, and watch the log. */
@Module({
  controllers: [EventsController],
  providers: [AppendEventsHandler, ReadSessionEventsHandler, ReadTenantFeedHandler],
})
export class EventsModule {}
