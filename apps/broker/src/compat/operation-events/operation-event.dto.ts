import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDefined, IsInt, IsNotEmpty, IsObject, IsOptional, IsString, Min, ValidateNested } from 'class-validator';

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

  @ApiPropertyOptional({ description: 'accepted for compatibility; events are kept by the retention policy' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  ttl_seconds?: number;
}
