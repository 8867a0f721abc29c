import { ApiPropertyOptional } from '@nestjs/swagger';
import { Expose, Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { toQueryBoolean } from '#ark/http';
import { UPSTREAM_DEFAULT_PAGE_SIZE, UPSTREAM_MAX_PAGE_SIZE, upstreamPageCursor, upstreamPageLimit } from '../../upstream-pagination.js';

/** Query of `GET /stream/:query` (upstream names). */
export class QueryStreamParamsDto {
  @ApiPropertyOptional({ name: 'from-beginning', enum: ['true', 'false'], description: 'replay the stored chunks first' })
  @Expose({ name: 'from-beginning' })
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  fromBeginning?: boolean;

  @ApiPropertyOptional({ name: 'wait-for-query', description: 'seconds (clamped to 1–300) to wait for the first chunk before the timeout error chunk' })
  @Expose({ name: 'wait-for-query' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  waitForQuery?: number;

  @ApiPropertyOptional({ name: 'max-chunk-size', description: 'accepted and ignored, as upstream' })
  @Expose({ name: 'max-chunk-size' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  maxChunkSize?: number;
}

/** Query of `GET /stream`: upstream reads `limit` and `cursor` with parseInt, see `chunkPageParams`. */
export class ChunkListParamsDto {
  @ApiPropertyOptional({ description: '`true` streams the chunks (SSE); anything else answers a page' })
  @IsOptional()
  @IsString()
  watch?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: UPSTREAM_MAX_PAGE_SIZE, default: UPSTREAM_DEFAULT_PAGE_SIZE })
  @IsOptional()
  @IsString()
  limit?: string;

  @ApiPropertyOptional({ description: 'items with a sequenceNumber above this' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

/** Upstream's pagination rules and messages (`PAGINATION_ERROR`): `10abc` is 10, a limit above 1000 is refused, not clamped. */
export function chunkPageParams(params: ChunkListParamsDto): { limit: number; cursor: number } {
  return { limit: upstreamPageLimit(params.limit), cursor: upstreamPageCursor(params.cursor) ?? 0 };
}
