import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsDefined, IsIn, IsInt, IsObject, IsOptional, IsString, Length, Matches, Max, Min, ValidateNested } from 'class-validator';
import { EXECUTION_PHASES, REPORTED_PHASES, type ExecutionPhase, type ReportedPhase } from '../execution.repository.js';

/** Longest long-poll of a claim, and longest lease: past them a lost executor holds a query too long. */
export const MAX_WAIT_SECONDS = 60;
export const MAX_LEASE_SECONDS = 3_600;
export const DEFAULT_LEASE_SECONDS = 30;
export const DEFAULT_MAX_ATTEMPTS = 3;

/** An executor id: what `GET /v2/executors` lists and phase reports are fenced by. */
const EXECUTOR_ID = /^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,252}$/;

export class QueryTargetDto {
  @ApiProperty({ example: 'agent', description: 'agent, team, model or tool' })
  @IsString()
  @Length(1, 64)
  type!: string;

  @ApiProperty({ example: 'weather-agent' })
  @IsString()
  @Length(1, 253)
  name!: string;
}

/** `POST /v2/queries`: a query for executors to run. */
export class SubmitQueryDto {
  @ApiProperty({ description: "the Query's UID: submitting the same body again is a no-op (200), another body under it 409" })
  @IsString()
  @Length(1, 256)
  queryId!: string;

  @ApiProperty({ example: 'what-is-the-weather' })
  @IsString()
  @Length(1, 253)
  name!: string;

  @ApiProperty({ example: 'default', description: 'executors bound to namespaces claim only theirs' })
  @IsString()
  @Length(1, 253)
  namespace!: string;

  @ApiPropertyOptional({ description: 'the session its events go to; defaults to the queryId' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  sessionId?: string;

  @ApiProperty({ type: QueryTargetDto })
  @IsObject()
  @ValidateNested()
  @Type(() => QueryTargetDto)
  target!: QueryTargetDto;

  @ApiProperty({ description: 'the query input: a string or messages, as Ark has it' })
  @IsDefined()
  input!: unknown;

  @ApiPropertyOptional({ description: 'still pending this long after submission: canceled with reason Expired' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(31_536_000)
  ttlSeconds?: number;

  @ApiPropertyOptional({ enum: ['auto', 'never'], default: 'auto', description: 'after a lost lease: back to pending (auto) or error ExecutorLost (never)' })
  @IsOptional()
  @IsIn(['auto', 'never'])
  reassign?: 'auto' | 'never';

  @ApiPropertyOptional({ default: DEFAULT_MAX_ATTEMPTS, description: 'claims allowed under reassign auto before error ExecutorLost' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  maxAttempts?: number;
}

/** `POST /v2/executors/:executorId/claims`. */
export class ClaimQueriesDto {
  @ApiPropertyOptional({ default: 1, maximum: 100 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100)
  max?: number;

  @ApiPropertyOptional({ default: 0, maximum: MAX_WAIT_SECONDS, description: 'long-poll: wait this long for a query when none is pending' })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(MAX_WAIT_SECONDS)
  waitSeconds?: number;

  @ApiPropertyOptional({ default: DEFAULT_LEASE_SECONDS, maximum: MAX_LEASE_SECONDS, description: 'each heartbeat extends the lease by this long' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_LEASE_SECONDS)
  leaseSeconds?: number;

  @ApiPropertyOptional({ description: "narrow the namespaces served (within the credentials' binding)" })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @Length(1, 253, { each: true })
  namespaces?: string[];
}

/** `POST /v2/queries/:id/heartbeat`. */
export class HeartbeatDto {
  @ApiProperty()
  @IsString()
  @Matches(EXECUTOR_ID, { message: 'executorId must be 1-253 letters, digits or ._:@/-' })
  executorId!: string;

  @ApiProperty({ description: 'the attempt the claim answered' })
  @IsInt()
  @Min(1)
  attempt!: number;

  @ApiPropertyOptional({ maximum: MAX_LEASE_SECONDS, description: 'extend by this long instead of the claimed lease (and from now on)' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_LEASE_SECONDS)
  leaseSeconds?: number;
}

/** `POST /v2/queries/:id/phase`. */
export class ReportPhaseDto extends HeartbeatDto {
  @ApiProperty({ enum: REPORTED_PHASES })
  @IsIn(REPORTED_PHASES)
  phase!: ReportedPhase;

  @ApiPropertyOptional({ description: 'done: the answer' })
  @IsOptional()
  response?: unknown;

  @ApiPropertyOptional({ description: 'error: what went wrong (any JSON; `{reason, message}` by convention)' })
  @IsOptional()
  error?: unknown;
}

/** `GET /v2/queries`. */
export class ListQueriesDto {
  @ApiPropertyOptional({ enum: EXECUTION_PHASES })
  @IsOptional()
  @IsIn(EXECUTION_PHASES)
  phase?: ExecutionPhase;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 253)
  namespace?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'the nextCursor of the previous page' })
  @IsOptional()
  @IsString()
  cursor?: string;
}

export function isExecutorId(id: string): boolean {
  return EXECUTOR_ID.test(id);
}
