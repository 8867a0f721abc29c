import { Body, Controller, Headers, HttpCode, Post, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { MalformedInputError } from '#ark/errors';
import { encodeTraceResponse, OtlpDecodeError, OtlpTraceDecoder, type DecodedTraces } from '#ark/otlp';
import { Caller, type CallerIdentity } from '#ark/tenancy';
import { IngestOtlpTracesCommand } from './ingest-otlp-traces.command.js';

const PROTOBUF = /^application\/(x-)?protobuf\b/i;

/** OTLP/HTTP trace receiver (`POST /v1/traces`), as the Ark controller's exporter calls it. */
@ApiTags('otlp')
@Controller('v1')
export class OtlpController {
  private readonly decoder = new OtlpTraceDecoder();

  constructor(private readonly commands: CommandBus) {}

  @Post('traces')
  @HttpCode(200)
  @ApiConsumes('application/x-protobuf', 'application/json')
  @ApiOperation({ summary: 'OTLP/HTTP trace export (protobuf or JSON, gzip); answered in the request encoding once stored' })
  async export(
    @Caller() caller: CallerIdentity,
    @Headers('content-type') contentType: string | undefined,
    @Body() body: unknown,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<unknown> {
    const protobuf = PROTOBUF.test(contentType ?? '');
    const decoded = this.decode(protobuf, body);
    await this.commands.execute(new IngestOtlpTracesCommand(caller, decoded.spans));
    const answer = encodeTraceResponse(protobuf ? 'protobuf' : 'json', decoded.rejected, decoded.rejectionReasons.join('; '));
    if (!protobuf) return answer;
    void reply.header('content-type', 'application/x-protobuf');
    return Buffer.from(answer as Uint8Array);
  }

  private decode(protobuf: boolean, body: unknown): DecodedTraces {
    try {
      if (protobuf) {
        if (!Buffer.isBuffer(body)) throw new OtlpDecodeError('empty protobuf body');
        return this.decoder.fromProtobuf(body);
      }
      const spans =
        (body as { resourceSpans?: unknown; resource_spans?: unknown } | null)?.resourceSpans ?? (body as { resource_spans?: unknown } | null)?.resource_spans;
      if (!Array.isArray(spans)) throw new OtlpDecodeError('Invalid OTLP request format. Expected resourceSpans array.');
      return this.decoder.fromJson(body);
    } catch (error) {
      // protobufjs reports a truncated or corrupt message as a RangeError.
      if (error instanceof RangeError) throw new MalformedInputError(error.message);
      throw error;
    }
  }
}
