import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { MAX_TTL_SECONDS } from '#ark/config';
import { InvalidArgumentError } from '#ark/errors';
import { toQueryBoolean } from '#ark/http';
import { UPSTREAM_DEFAULT_PAGE_SIZE, UPSTREAM_MAX_PAGE_SIZE, upstreamPageLimit } from '../../upstream-pagination.js';

/** Upstream ignores empty filter values. */
const emptyAsAbsent = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/** Messages one `POST /messages` may carry (upstream has no cap; `POST /v2/events` takes 1,000 events): more is a 400, nothing stored. */
export const MAX_MESSAGES_PER_REQUEST = 1_000;

/** `POST /messages` (unknown fields are ignored, as upstream). */
export class PostMessagesDto {
  @ApiProperty({ example: '550e8400-e29b-41d4-a716-446655440000', description: 'may be empty' })
  @IsString()
  conversation_id!: string;

  @ApiProperty({ example: 'query-uuid', description: "Ark posts the query's name; may be empty" })
  @IsString()
  query_id!: string;

  @ApiProperty({ type: 'array', items: {}, maxItems: MAX_MESSAGES_PER_REQUEST, description: 'any JSON values, each stored as one message' })
  @IsArray()
  @ArrayMaxSize(MAX_MESSAGES_PER_REQUEST)
  messages!: unknown[];

  @ApiPropertyOptional({ minimum: 1, description: 'the messages are hidden this many seconds after they were received' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  ttl_seconds?: number;
}

/** `GET /messages` */
export class ListMessagesQueryDto {
  @ApiPropertyOptional({ description: 'stream new messages as Server-Sent Events' })
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  watch?: boolean;

  @ApiPropertyOptional()
  @IsOptional()
  @Transform(emptyAsAbsent)
  @IsString()
  conversation_id?: string;

  @ApiPropertyOptional({ description: 'ignored by the watch, as upstream' })
  @IsOptional()
  @Transform(emptyAsAbsent)
  @IsString()
  query_id?: string;

  @ApiPropertyOptional({ type: Number, description: 'only messages with a higher `sequence`; the watch replays from it' })
  @IsOptional()
  @IsString()
  cursor?: string;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: UPSTREAM_MAX_PAGE_SIZE, default: UPSTREAM_DEFAULT_PAGE_SIZE })
  @IsOptional()
  @IsString()
  limit?: string;
}

/** Upstream's `parsePaginationParams`: `limit` read with parseInt (`10abc` is 10), refused above the maximum, not clamped. */
export function pageLimit(limit: string | undefined): number {
  return upstreamPageLimit(limit === '' ? undefined : limit);
}

/** Upstream's schema coerces `cursor` with Number before paging (`VALIDATION_ERROR`): `''` is 0, `1.5` and `-1` are refused. */
export function pageCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const n = Number(cursor);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('cursor must be a non-negative integer');
  return n;
}
