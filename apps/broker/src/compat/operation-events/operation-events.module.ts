import { Module } from '@nestjs/common';
import { OperationEventsController } from './operation-events.controller.js';
import { OperationEventsRepository } from './operation-events.repository.js';
import { RecordOperationEventHandler } from './record-operation-event.command.js';

/** Operation events from Ark's controller (`/events`), upstream-compatible. */
@Module({
  controllers: [OperationEventsController],
  providers: [RecordOperationEventHandler, OperationEventsRepository],
})
export class OperationEventsModule {}
