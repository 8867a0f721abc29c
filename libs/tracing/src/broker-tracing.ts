import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { detectResources, resourceAttributesEnvDetector, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
} from '@opentelemetry/sdk-trace';
import { createRequire } from 'node:module';
import os from 'node:os';

const tracer = () => trace.getTracer('ark-broker');
let enabled = false;

/** An OTEL_* setting the broker cannot use. */
export class TracingConfigError extends Error {}

/** OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG, as the OpenTelemetry specification names them; default parentbased_always_on. */
export function samplerFromEnvironment(env: Record<string, string | undefined>): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on').trim().toLowerCase();
  const ratio = () => {
    const arg = Number(env.OTEL_TRACES_SAMPLER_ARG ?? '1');
    return Number.isFinite(arg) && arg >= 0 && arg <= 1 ? arg : 1;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    default:
      throw new TracingConfigError(
        `OTEL_TRACES_SAMPLER=${name}: not a sampler this broker knows (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)`,
      );
  }
}

/**
 * Wires the OpenTelemetry SDK when OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT
 * is set (spans go over OTLP/HTTP protobuf; OTEL_EXPORTER_OTLP_HEADERS is honoured by the exporter),
 * with the standard settings: OTEL_SDK_DISABLED, OTEL_TRACES_SAMPLER(_ARG), OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_SCHEDULE_DELAY. The resource carries service.name (default
 * ark-broker), service.version (the broker's) and service.instance.id. Database calls are traced by
 * the official pg instrumentation, only under a traced request (never with parameter values).
 * Without an endpoint nothing is loaded into the API and every span call is a no-op. Returns the
 * flush-and-stop.
 */
export function startTracing(env: Record<string, string | undefined>, version = '0.0.0'): () => Promise<void> {
  const tracesEndpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if ((!tracesEndpoint && !endpoint) || env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return async () => undefined;
  const sampler = samplerFromEnvironment(env);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  // Precedence (the specification's): OTEL_SERVICE_NAME, then OTEL_RESOURCE_ATTRIBUTES, then the defaults.
  const resource = resourceFromAttributes({
    'service.name': 'ark-broker',
    'service.version': version,
    'service.instance.id': `${os.hostname()}:${process.pid}`,
  })
    .merge(detectResources({ detectors: [resourceAttributesEnvDetector] }))
    .merge(env.OTEL_SERVICE_NAME ? resourceFromAttributes({ 'service.name': env.OTEL_SERVICE_NAME }) : null);
  const provider = new TracerProvider({
    resource,
    sampler,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: tracesEndpoint || `${endpoint!.replace(/\/+$/, '')}/v1/traces` }),
        scheduledDelayMillis: Number(env.OTEL_BSP_SCHEDULE_DELAY) || 5_000,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [new PgInstrumentation({ requireParentSpan: true, enhancedDatabaseReporting: false })],
  });
  // The hook patches pg when it is required; the broker imports it as an ES module, which the hook
  // does not see, so require it here (the same module instance: its prototype is patched for all).
  createRequire(import.meta.url)('pg');
  enabled = true;
  return () => provider.shutdown();
}

/**
 * Runs `work` outside any trace. For work that serves many requests at once (a group commit's
 * batch): parented on whichever request happened to start it, its database spans would belong to
 * that request, and keep a context alive that later, untraced batches (span ingest) inherit.
 */
export function outsideTraces<T>(work: () => T): T {
  return enabled ? context.with(ROOT_CONTEXT, work) : work();
}

/**
 * Routes whose requests get no span. `/v1/traces` above all: a broker exporting its spans to itself
 * (or to a collector that forwards to it) would otherwise trace the export, export that span, and
 * so on forever. Since child spans are only made under a request span (`inSpan`), ingest creates
 * none at all. The probes and /metrics are noise.
 */
const UNTRACED_ROUTES = new Set(['/v1/traces', '/health', '/readyz', '/metrics']);

export interface TracedRequest {
  method: string;
  route: string | undefined;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * Starts the server span of a request (parented on its `traceparent`) and runs `next` in its
 * context; `end` records the status. Undefined when the request is not traced.
 */
export function startRequestSpan(request: TracedRequest, next: () => void): ((status: number) => void) | undefined {
  const route = request.route;
  if (!enabled || !route || UNTRACED_ROUTES.has(route)) {
    next();
    return undefined;
  }
  const parent = propagation.extract(context.active(), request.headers);
  const span = tracer().startSpan(
    `${request.method} ${route}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'http.route': route } },
    parent,
  );
  context.with(trace.setSpan(parent, span), next);
  return (status: number) => {
    span.setAttribute('http.response.status_code', status);
    if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  };
}

/** Runs `work` in a child span of the current span; with no current span (untraced), just runs it. */
export async function inSpan<T>(name: string, attributes: Record<string, string | number>, work: (span?: Span) => Promise<T>): Promise<T> {
  if (!enabled || !trace.getActiveSpan()) return work();
  return tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}
