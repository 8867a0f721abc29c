import { ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { IsOptional, IsString, Length } from 'class-validator';
import { AppendEventDto } from './append-event.dto.js';

/** One event of a custom topic for `POST /v2/streams/:name` (the body is one of these or an array): its type is the topic's. */
export class TopicEventDto extends OmitType(AppendEventDto, ['type', 'sessionId'] as const) {
  @ApiPropertyOptional({
    example: 'session-123',
    description: "the session the event belongs to (it then shows in that session's events too); without it, the topic's own stream `topic:<name>`",
  })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  sessionId?: string;
}
