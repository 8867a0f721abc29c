import { ApiPropertyOptional } from '@nestjs/swagger';
import { Expose, Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { toQueryBoolean } from '#ark/http';

/** Query of upstream's watchable lists (`GET /traces…`, `GET /events…`), upstream names included. */
export class UpstreamFeedQueryDto {
  @ApiPropertyOptional()
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  watch?: boolean;

  @ApiPropertyOptional({ description: 'only this session' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  session_id?: string;

  @ApiPropertyOptional({ description: 'a position: pages continue after it, watches replay what follows it' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  cursor?: number;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 1000, default: 100, description: 'read as upstream (`upstreamPageLimit`)' })
  @IsOptional()
  @IsString()
  limit?: string;

  @ApiPropertyOptional({ name: 'from-beginning' })
  @Expose({ name: 'from-beginning' })
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  fromBeginning?: boolean;
}
