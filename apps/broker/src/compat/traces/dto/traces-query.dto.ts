import { ApiPropertyOptional } from '@nestjs/swagger';
import { Expose, Transform, Type } from 'class-transformer';
import { IsBoolean, IsInt, IsOptional, IsString, Length, Max, Min } from 'class-validator';

const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

/** Query of `GET /traces` and `GET /traces/:traceId` (upstream names, including `from-beginning`). */
export class TracesQueryDto {
  @ApiPropertyOptional() @IsOptional() @Transform(toBoolean) @IsBoolean()
  watch?: boolean;

  @ApiPropertyOptional({ description: 'only spans whose `ark.session.id` attribute is this' })
  @IsOptional() @IsString() @Length(1, 256)
  session_id?: string;

  @ApiPropertyOptional({ description: 'pages: traces that began before this position; watch: replay spans after it' })
  @IsOptional() @Type(() => Number) @IsInt() @Min(0)
  cursor?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ name: 'from-beginning' })
  @Expose({ name: 'from-beginning' }) @IsOptional() @Transform(toBoolean) @IsBoolean()
  fromBeginning?: boolean;
}
