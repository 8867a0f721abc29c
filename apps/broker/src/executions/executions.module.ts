import { Module } from '@nestjs/common';
import { CancelQueryHandler, RetryQueryHandler } from './cancel-query.command.js';
import { ClaimQueriesHandler } from './claim-queries.command.js';
import { ClaimRounds } from './claim-rounds.js';
import { ClaimWaiters } from './claim-waiters.js';
import { ExecutionReadsService, FindQueryExecutionHandler } from './execution-reads.service.js';
import { ExecutionRepository } from './execution.repository.js';
import { ExecutionsController } from './executions.controller.js';
import { ExecutorSightings } from './executor-sightings.js';
import { QueueSweeper } from './queue-sweeper.js';
import { QueueUpkeep } from './queue-upkeep.js';
import { HeartbeatHandler, ReportPhaseHandler } from './report-phase.command.js';
import { SubmitQueryHandler } from './submit-query.command.js';
import { TransitionPublisher } from './transition-publisher.js';

/** Off-controller query execution (docs/executors.md): submit, claim with leases, heartbeats, phases, cancel, retry. */
@Module({
  controllers: [ExecutionsController],
  providers: [
    ExecutionRepository,
    TransitionPublisher,
    ClaimRounds,
    ClaimWaiters,
    ExecutorSightings,
    QueueSweeper,
    QueueUpkeep,
    ExecutionReadsService,
    FindQueryExecutionHandler,
    SubmitQueryHandler,
    ClaimQueriesHandler,
    HeartbeatHandler,
    ReportPhaseHandler,
    CancelQueryHandler,
    RetryQueryHandler,
  ],
})
export class ExecutionsModule {}
