export { inSpan, outsideTraces, samplerFromEnvironment, startRequestSpan, startTracing, TracingConfigError, type TracedRequest } from './broker-tracing.js';
