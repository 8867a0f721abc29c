import { Module } from '@nestjs/common';
import { SessionsController } from './sessions.controller.js';
import { SessionsRepository } from './sessions.repository.js';

/** The upstream-compatible sessions API over the session_queries read model. */
@Module({ controllers: [SessionsController], providers: [SessionsRepository] })
export class SessionsModule {}
