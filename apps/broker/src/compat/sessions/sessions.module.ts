import { Module } from '@nestjs/common';
import { SessionsController } from './sessions.controller.js';
import { SessionsRepository } from './sessions.repository.js';
import { SignalSessionHandler } from './signal-session.command.js';

/** The upstream-compatible sessions API over the session_queries read model. */
@Module({ controllers: [SessionsController], providers: [SessionsRepository, SignalSessionHandler] })
export class SessionsModule {}
