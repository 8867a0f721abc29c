import { ApiPropertyOptional } from '@nestjs/swagger';
import { Expose, Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';

const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

/** Query of `GET /events` and `GET /events/:queryId` (upstream names). */
export class OperationEventsQueryDto {
  @ApiPropertyOptional() @IsOptional() @Transform(toBoolean) @IsBoolean()
  watch?: boolean;

  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 256)
  session_id?: string;

  @ApiPropertyOptional({ description: 'events after this position (pages and watch replay)' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(0)
  cursor?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ name: 'from-beginning' })
  @Expose({ name: 'from-beginning' }) @IsOptional() @Transform(toBoolean) @IsBoolean()
  fromBeginning?: boolean;
}
