import { Module } from '@nestjs/common';
import { IngestOtlpTracesHandler } from './ingest-otlp-traces.command.js';
import { OtlpController } from './otlp.controller.js';
import { TracesController } from './traces.controller.js';
import { TracesRepository } from './traces.repository.js';

/** OTLP ingest and the upstream-compatible trace reads. */
@Module({
  controllers: [OtlpController, TracesController],
  providers: [IngestOtlpTracesHandler, TracesRepository],
})
export class TracesModule {}
