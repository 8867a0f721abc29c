export { ProjectionRebuilder, type RebuildReport } from './projection-rebuilder.js';
export { inlineProjectors, ProjectionsModule } from './projections.module.js';
export { SessionsProjector } from './sessions.projector.js';
export { SpansProjector } from './spans.projector.js';
export { MessagesProjector } from './messages.projector.js';
export { DeletionsProjector } from './deletions.projector.js';
export { SESSION_SIGNALLED, SessionQueriesProjector } from './session-queries.projector.js';
export { applyQuerySignal, phaseOfReason, sessionStatus, type QueryPhase, type QuerySignal, type SessionQuery, type SessionStatus } from './session-query-rules.js';
