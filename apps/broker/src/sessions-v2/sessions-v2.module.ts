import { Module } from '@nestjs/common';
import { SessionsV2Controller } from './sessions-v2.controller.js';
import { SessionsV2Repository } from './sessions-v2.repository.js';

/** The native `/v2` sessions, queries and tool-calls API (docs/read-models.md). */
@Module({ controllers: [SessionsV2Controller], providers: [SessionsV2Repository] })
export class SessionsV2Module {}
