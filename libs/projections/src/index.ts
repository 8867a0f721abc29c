export { ProjectionRebuilder, type RebuildReport } from './projection-rebuilder.js';
export { inlineProjectors, ProjectionsModule, type ProjectionOptions } from './projections.module.js';
export { SessionsProjector } from './sessions.projector.js';
export { MessagesProjector } from './messages.projector.js';
export { DeletionsProjector } from './deletions.projector.js';
export { TracesProjector } from './traces.projector.js';
export { SessionQueriesProjector } from './session-queries.projector.js';
export {
  applyQueryMessage,
  applyQuerySignal,
  applySessionQueryEvent,
  phaseOfReason,
  sessionStatus,
  type QueryPhase,
  type QuerySignal,
  type SessionQuery,
  type SessionStatus,
} from './session-query-rules.js';
export { queryPhase, type QuerySignals } from './queries.projector.js';
export { toolCallKey } from './tool-calls.projector.js';
export { WorkProjector } from './work.projector.js';
export { WorkSteps } from './work-steps.js';
