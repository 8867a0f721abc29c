import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { toQueryBoolean } from '#ark/http';

export const MAX_PAGE_SIZE = 1_000;
export const SESSION_STATUSES = ['active', 'idle', 'error'] as const;
export type SessionStatusV2 = (typeof SESSION_STATUSES)[number];

class PageQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: MAX_PAGE_SIZE, default: 50 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;

  @ApiPropertyOptional({ description: 'opaque keyset cursor: the `nextCursor` of the previous page' })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  cursor?: string;
}

/** `GET /v2/sessions/:id/queries` and `/messages`: newest first; each query's calls are listed, so pages are small. */
export class SessionQueriesQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 20 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;

  @ApiPropertyOptional({
    description: "opaque keyset cursor: the aggregate's `queries.nextCursor` (`messages.nextCursor` for messages), or the `nextCursor` of the previous page",
  })
  @IsOptional()
  @IsString()
  @Length(1, 2048)
  cursor?: string;
}

/** `GET /v2/sessions`: newest activity first, keyset-paginated. */
export class ListSessionsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: SESSION_STATUSES, description: 'active: a query runs; error: the latest query failed; else idle' })
  @IsOptional()
  @IsIn(SESSION_STATUSES)
  status?: SessionStatusV2;

  @ApiPropertyOptional({ description: "the session owner's user id" })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  userId?: string;

  @ApiPropertyOptional({ description: 'sessions with a query in this namespace' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  namespace?: string;

  @ApiPropertyOptional({ description: 'sessions active at or after this time (ISO 8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;

  @ApiPropertyOptional({ description: 'sessions active at or before this time (ISO 8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;

  @ApiPropertyOptional({ description: 'substring of the session id, a query name, agent or target' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  search?: string;

  @ApiPropertyOptional({ description: 'sessions where this agent worked (or that targeted it)' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  agent?: string;

  @ApiPropertyOptional({ description: 'sessions with (true) or without (false) any error signal' })
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  hasErrors?: boolean;
}

/** `GET /v2/sessions/:id`: the aggregate, or with `watch=true` the aggregate then the session's events. */
export class SessionAggregateQueryDto {
  @ApiPropertyOptional({ description: "stream: first the aggregate as one SSE message, then the session's events (`id:` = sequence)" })
  @IsOptional()
  @Transform(toQueryBoolean)
  @IsBoolean()
  watch?: boolean;
}

export const REPLAY_MODES = ['fast', 'realtime'] as const;
export const DEFAULT_MAX_REPLAY_GAP_MS = 5_000;

/** `GET /v2/queries/:id/completion`: how the recorded part is replayed (the live part always flows as it comes). */
export class CompletionQueryDto {
  @ApiPropertyOptional({ enum: REPLAY_MODES, default: 'fast', description: 'fast: as fast as the client reads; realtime: paced by the recorded event times' })
  @IsOptional()
  @IsIn(REPLAY_MODES)
  replay?: (typeof REPLAY_MODES)[number];

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 600_000,
    default: DEFAULT_MAX_REPLAY_GAP_MS,
    description: 'realtime: the longest wait between two events (ms); longer recorded gaps are shortened to it',
  })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(0)
  @Max(600_000)
  maxGapMs?: number;
}

/** `GET /v2/tool-calls`: correlation lookups, oldest first, keyset-paginated. */
export class ListToolCallsQueryDto extends PageQueryDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  sessionId?: string;

  @ApiPropertyOptional({ description: 'query UID, name or key' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  queryId?: string;

  @ApiPropertyOptional({ description: 'MCP session id (e.g. which MCP session asked a question)' })
  @IsOptional()
  @IsString()
  @Length(1, 256)
  mcpSessionId?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @Length(1, 256)
  toolName?: string;
}
