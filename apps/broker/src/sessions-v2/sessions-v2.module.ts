import { Module } from '@nestjs/common';
import { LlmCallRepository } from './llm-call.repository.js';
import { QueryRepository } from './query.repository.js';
import { RawEventRepository } from './raw-event.repository.js';
import { ResumeContextRepository } from './resume-context.repository.js';
import { ResumeContextService } from './resume-context.service.js';
import { SessionSummaryRepository } from './session-summary.repository.js';
import { SessionsV2Controller } from './sessions-v2.controller.js';
import { SessionsV2Service } from './sessions-v2.service.js';
import { ToolCallRepository } from './tool-call.repository.js';

/** The native `/v2` sessions, queries and tool-calls API (docs/read-models.md). */
@Module({
  controllers: [SessionsV2Controller],
  providers: [
    SessionsV2Service,
    ResumeContextService,
    SessionSummaryRepository,
    QueryRepository,
    ToolCallRepository,
    LlmCallRepository,
    RawEventRepository,
    ResumeContextRepository,
  ],
  exports: [SessionsV2Service, ResumeContextService, QueryRepository],
})
export class SessionsV2Module {}
