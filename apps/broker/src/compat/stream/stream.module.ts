import { Module, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyInstance } from 'fastify';
import { ChunkIndexAllocator } from './chunk-index-allocator.js';
import { ChunkStreamRepository } from './chunk-stream.repository.js';
import { ChunkUploadService } from './chunk-upload.service.js';
import { CompleteChunkStreamHandler } from './complete-stream.command.js';
import { StreamController } from './stream.controller.js';
import { LiveChunkRelay } from './live-chunk-relay.js';
import { registerStreamedBodies } from './streamed-body.js';

/** The upstream-compatible LLM completion chunk routes (`/stream`). */
@Module({
  controllers: [StreamController],
  providers: [ChunkStreamRepository, ChunkIndexAllocator, ChunkUploadService, CompleteChunkStreamHandler, LiveChunkRelay],
})
export class StreamModule implements OnModuleInit {
  constructor(private readonly adapter: HttpAdapterHost) {}

  /** Runs before Fastify is ready, so the parser and hook still apply to the routes already declared. */
  onModuleInit(): void {
    registerStreamedBodies(this.adapter.httpAdapter.getInstance<FastifyInstance>());
  }
}
