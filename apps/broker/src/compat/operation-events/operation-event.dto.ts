import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Max, Min, ValidateNested } from 'class-validator';
import { MAX_TTL_SECONDS } from '#ark/config';

export class OperationEventDataDto {
  @ApiProperty({ description: 'UID of the Ark query the event belongs to' })
  @IsString()
  @IsNotEmpty()
  queryId!: string;
}

/** `POST /events`: upstream checks only `data.queryId`; every other field is kept as posted. */
export class OperationEventDto {
  @ApiProperty({ type: OperationEventDataDto })
  @IsDefined()
  @IsObject()
  @ValidateNested()
  @Type(() => OperationEventDataDto)
  data!: OperationEventDataDto;

  @ApiPropertyOptional({ description: 'seconds the event stays visible (default EVENT_VISIBILITY_TTL_SECONDS); the reaper deletes it after' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_TTL_SECONDS)
  ttl_seconds?: number;
}
