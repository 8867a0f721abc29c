import { Global, Module, type DynamicModule } from '@nestjs/common';
import { DatabaseConnection } from '#ark/database';
import { INLINE_PROJECTORS, WORK_STEP_RESOLVER, type InlineProjector } from '#ark/event-store';
import { DeletionsProjector } from './deletions.projector.js';
import { ProjectionRebuilder } from './projection-rebuilder.js';
import { MessagesProjector } from './messages.projector.js';
import { SessionQueriesProjector } from './session-queries.projector.js';
import { SessionsProjector } from './sessions.projector.js';
import { TracesProjector } from './traces.projector.js';
import { WorkProjector } from './work.projector.js';
import { WorkSteps } from './work-steps.js';

/** What the projectors need of the retention settings (docs/architecture.md#retention). */
export interface ProjectionOptions {
  /** SESSIONS_VISIBILITY_TTL_SECONDS: a session stays visible this long after its last event. */
  sessionsTtlSeconds: number;
}

/** The one place inline projectors are registered; the event store runs them in every append. */
export function inlineProjectors(options: ProjectionOptions): InlineProjector[] {
  return [
    new SessionsProjector(options.sessionsTtlSeconds),
    new SessionQueriesProjector(),
    new TracesProjector(),
    new MessagesProjector(),
    new DeletionsProjector(),
    new WorkProjector(),
  ];
}

@Global()
@Module({})
export class ProjectionsModule {
  static forRoot(options: ProjectionOptions): DynamicModule {
    return {
      module: ProjectionsModule,
      providers: [
        { provide: INLINE_PROJECTORS, useFactory: () => inlineProjectors(options) },
        { provide: WORK_STEP_RESOLVER, useFactory: () => new WorkSteps() },
        {
          provide: ProjectionRebuilder,
          inject: [DatabaseConnection, INLINE_PROJECTORS],
          useFactory: (c: DatabaseConnection, projectors: InlineProjector[]) => new ProjectionRebuilder(c.db, projectors),
        },
      ],
      exports: [INLINE_PROJECTORS, WORK_STEP_RESOLVER, ProjectionRebuilder],
    };
  }
}
