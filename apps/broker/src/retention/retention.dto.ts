import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, Max, Min, ValidateIf } from 'class-validator';
import { MAX_TTL_SECONDS } from '#ark/config';

/** `PUT /v2/retention`: the tenant's own TTLs; a field absent or null falls back to the broker's setting. */
export class PutRetentionDto {
  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, description: 'messages: seconds visible (null: MESSAGE_VISIBILITY_TTL_SECONDS)' })
  @ValidateIf((_, v) => v !== null && v !== undefined)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  messageTtlSeconds?: number | null;

  @ApiPropertyOptional({ type: 'integer', nullable: true, minimum: 1, description: 'every other event (null: EVENT_VISIBILITY_TTL_SECONDS)' })
  @ValidateIf((_, v) => v !== null && v !== undefined)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  eventTtlSeconds?: number | null;

  @ApiPropertyOptional({
    type: 'integer',
    nullable: true,
    minimum: 1,
    description: 'sessions, after their last event; at least the two above (null: SESSIONS_VISIBILITY_TTL_SECONDS)',
  })
  @ValidateIf((_, v) => v !== null && v !== undefined)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  sessionsTtlSeconds?: number | null;
}
