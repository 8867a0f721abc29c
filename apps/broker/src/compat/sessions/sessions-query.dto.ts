import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsOptional, IsString, Length } from 'class-validator';
import { toQueryBoolean } from '#ark/http';

const emptyAsAbsent = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

/** Query of `GET /sessions` (upstream names and values). */
export class SessionsQueryDto {
  @ApiPropertyOptional()
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  watch?: boolean;

  @ApiPropertyOptional({ description: 'watch only this session' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  session_id?: string;

  @ApiPropertyOptional({ enum: ['active', 'idle', 'error'] })
  @IsOptional()
  @IsIn(['active', 'idle', 'error'])
  status?: 'active' | 'idle' | 'error';

  @ApiPropertyOptional({ enum: ['date', 'name', 'conversations'] })
  @IsOptional()
  @IsIn(['date', 'name', 'conversations'])
  sort?: 'date' | 'name' | 'conversations';

  @ApiPropertyOptional({ enum: ['asc', 'desc'] })
  @IsOptional()
  @IsIn(['asc', 'desc'])
  order?: 'asc' | 'desc';

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 64)
  dateFrom?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 64)
  dateTo?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  search?: string;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: 1000, description: 'with `cursor`, switches to the paginated answer' })
  @Transform(emptyAsAbsent)
  @IsOptional()
  @IsString()
  limit?: string;

  @ApiPropertyOptional({ type: Number, minimum: 0, description: 'offset into the filtered, sorted list' })
  @Transform(emptyAsAbsent)
  @IsOptional()
  @IsString()
  cursor?: string;
}
