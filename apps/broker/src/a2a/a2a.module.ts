import { Module } from '@nestjs/common';
import { SessionsV2Module } from '../sessions-v2/sessions-v2.module.js';
import { A2aController } from './a2a.controller.js';
import { RecordA2aUpdatesHandler } from './record-a2a-updates.command.js';

/** A2A task updates (docs/events.md, `a2a.task.*`): written to the query's session, shown in the session aggregate. */
@Module({
  imports: [SessionsV2Module],
  controllers: [A2aController],
  providers: [RecordA2aUpdatesHandler],
})
export class A2aModule {}
