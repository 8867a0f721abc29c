import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { InvalidArgumentError, NotFoundError } from '#ark/errors';
import { apiValidationPipe } from '#ark/http';
import { ShutdownSignal } from '#ark/shutdown';
import { Caller, readScopeOf, type CallerIdentity } from '#ark/tenancy';
import { CancelQueryCommand, RetryQueryCommand } from './cancel-query.command.js';
import { ClaimQueriesCommand } from './claim-queries.command.js';
import { ClaimQueriesDto, HeartbeatDto, isExecutorId, ListQueriesDto, ReportPhaseDto, SubmitQueryDto } from './dto/executions.dto.js';
import { ExecutionReadsService } from './execution-reads.service.js';
import { HeartbeatCommand, ReportPhaseCommand } from './report-phase.command.js';
import { SubmitQueryCommand } from './submit-query.command.js';

/** Off-controller query execution (docs/executors.md): the queue producers submit to and executors claim from. */
@ApiTags('query execution (v2)')
@Controller('v2')
export class ExecutionsController {
  constructor(
    private readonly commands: CommandBus,
    private readonly reads: ExecutionReadsService,
    private readonly shutdown: ShutdownSignal,
  ) {}

  @Post('queries')
  @ApiOperation({ summary: 'Submit a query for executors: 201 pending; the same body again 200; another body under the same queryId 409' })
  async submit(@Caller() caller: CallerIdentity, @Body(apiValidationPipe()) body: SubmitQueryDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const { created, query } = await this.commands.execute(new SubmitQueryCommand(caller, body));
    reply.status(created ? 201 : 200);
    return query;
  }

  @Get('queries')
  @ApiOperation({ summary: 'The queue, newest first; filters phase and namespace' })
  list(@Caller() caller: CallerIdentity, @Query(apiValidationPipe()) query: ListQueriesDto) {
    return this.reads.list(readScopeOf(caller), { phase: query.phase, namespace: query.namespace }, query.limit ?? 100, query.cursor);
  }

  @Get('queries/:queryId/execution')
  @ApiOperation({ summary: "A query's place in the queue: phase, assignment, lease, attempt and history" })
  async execution(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    const found = await this.reads.find(readScopeOf(caller), queryId);
    if (!found) throw new NotFoundError(`query ${queryId} not found`);
    return found;
  }

  @Post('executors/:executorId/claims')
  @HttpCode(200)
  @ApiOperation({ summary: 'Claim up to `max` pending queries (long-poll `waitSeconds`), each assigned with a lease; `{items: []}` when none came' })
  async claim(
    @Caller() caller: CallerIdentity,
    @Param('executorId') executorId: string,
    @Body(apiValidationPipe()) body: ClaimQueriesDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ) {
    if (!isExecutorId(executorId)) throw new InvalidArgumentError('executorId must be 1-253 letters, digits or ._:@/-');
    // Stop waiting when the executor hangs up or the broker drains (SIGTERM).
    const gone = new AbortController();
    reply.raw.once('close', () => gone.abort());
    const signal = AbortSignal.any([gone.signal, this.shutdown.signal]);
    return { items: await this.commands.execute(new ClaimQueriesCommand(caller, executorId, body, signal)) };
  }

  @Get('executors')
  @ApiOperation({ summary: 'Executors seen in the last minute or holding queries: namespaces, last heartbeat, active queries' })
  executors(@Caller() caller: CallerIdentity) {
    return this.reads.executors(readScopeOf(caller));
  }

  @Post('queries/:queryId/heartbeat')
  @HttpCode(200)
  @ApiOperation({ summary: "Extend the lease of the executor's attempt; answers whether a cancel was requested. 409: a stale attempt" })
  heartbeat(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string, @Body(apiValidationPipe()) body: HeartbeatDto) {
    return this.commands.execute(new HeartbeatCommand(caller, queryId, body));
  }

  @Post('queries/:queryId/phase')
  @HttpCode(200)
  @ApiOperation({ summary: "Report the executor's attempt running, done, error or canceled. 409: a stale attempt" })
  phase(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string, @Body(apiValidationPipe()) body: ReportPhaseDto) {
    return this.commands.execute(new ReportPhaseCommand(caller, queryId, body));
  }

  @Post('queries/:queryId/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel: a pending query at once, an assigned or running one through its executor (heartbeat)' })
  cancel(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    return this.commands.execute(new CancelQueryCommand(caller, queryId));
  }

  @Post('queries/:queryId/retry')
  @HttpCode(200)
  @ApiOperation({ summary: 'Put an error or canceled query back to pending with one more attempt. 409: it is neither' })
  retry(@Caller() caller: CallerIdentity, @Param('queryId') queryId: string) {
    return this.commands.execute(new RetryQueryCommand(caller, queryId));
  }
}
