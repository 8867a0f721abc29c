export { inSpan, startRequestSpan, startTracing, type TracedRequest } from './broker-tracing.js';
