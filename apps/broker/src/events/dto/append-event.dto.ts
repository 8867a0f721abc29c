import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsDefined, IsISO8601, IsNotIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import { RESERVED_EVENT_TYPES } from '#ark/event-store';

/** One producer event for `POST /v2/events` (the body is one of these or an array of them). */
export class AppendEventDto {
  @ApiProperty({ example: 'session-123' })
  @IsString()
  @Length(1, 256)
  sessionId!: string;

  @ApiProperty({ example: 'custom.review.requested', description: 'ark event type, lower-case dotted' })
  @IsString()
  @Length(1, 128)
  @Matches(/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/, { message: 'type must be lower-case dotted words, e.g. custom.note.added' })
  @IsNotIn(RESERVED_EVENT_TYPES, { message: `type must not be one the broker writes itself (${RESERVED_EVENT_TYPES.join(', ')})` })
  type!: string;

  @ApiPropertyOptional({ description: 'when it happened (ISO 8601); defaults to the append time' })
  @IsOptional()
  @IsISO8601({ strict: true })
  time?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  queryId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  queryName?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  namespace?: string;

  @ApiPropertyOptional({ description: 'the user the producer acts for' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  userId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 64)
  traceId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 64)
  spanId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 64)
  parentSpanId?: string;

  @ApiPropertyOptional({ description: 'a redelivered event with the same key in the same session is a no-op' })
  @IsOptional()
  @IsString()
  @Length(1, 512)
  dedupeKey?: string;

  @ApiProperty({ description: 'any JSON payload', type: 'object', additionalProperties: true })
  @IsDefined()
  data!: unknown;
}
