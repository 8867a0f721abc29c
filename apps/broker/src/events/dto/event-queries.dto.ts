import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { toQueryBoolean } from '#ark/http';

export const MAX_PAGE_SIZE = 1_000;

const toList = ({ value }: { value: unknown }) =>
  (Array.isArray(value) ? value : [value])
    .flatMap((v) => String(v).split(','))
    .map((t) => t.trim())
    .filter(Boolean);

class WatchableQueryDto {
  @ApiPropertyOptional({ description: 'stream as Server-Sent Events instead of answering a page' })
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  watch?: boolean;

  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

export class SessionEventsQueryDto extends WatchableQueryDto {
  @ApiPropertyOptional({ description: 'only events with a sequence above this' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  after?: number;

  @ApiPropertyOptional({ description: 'resume point of a watch (a sequence); Last-Event-ID wins' })
  @IsOptional()
  @IsString()
  @Length(1, 40)
  cursor?: string;

  @ApiPropertyOptional({ description: 'comma-separated event types' })
  @IsOptional()
  @Transform(toList)
  @IsString({ each: true })
  @Length(1, 128, { each: true })
  types?: string[];
}

export class TenantFeedQueryDto extends WatchableQueryDto {
  @ApiPropertyOptional({ description: '`tx:pos` cursor; pages start after it. `0:0` is the beginning of the feed.' })
  @IsOptional()
  @IsString()
  @Length(1, 48)
  after?: string;

  @ApiPropertyOptional({ description: 'resume point of a watch (`tx:pos`); Last-Event-ID wins. Default: from now on' })
  @IsOptional()
  @IsString()
  @Length(1, 48)
  cursor?: string;
}
