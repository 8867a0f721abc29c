import { Global, Module } from '@nestjs/common';
import { WatchStreamService } from './watch-stream.service.js';

/** SSE watch streams, shared by every feature module. */
@Global()
@Module({ providers: [WatchStreamService], exports: [WatchStreamService] })
export class WatchModule {}
