export { ShutdownSignal } from './shutdown-signal.js';
export { ShutdownModule } from './shutdown.module.js';
