import { context, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import os from 'node:os';

const tracer = () => trace.getTracer('ark-broker');
let enabled = false;

/**
 * Wires the OpenTelemetry SDK when OTEL_EXPORTER_OTLP_ENDPOINT is set (spans go over OTLP/HTTP
 * protobuf to `<endpoint>/v1/traces`; OTEL_EXPORTER_OTLP_HEADERS is honoured by the exporter).
 * Without it nothing is loaded into the API and every span call is a no-op. Returns the flush-and-stop.
 */
export function startTracing(env: Record<string, string | undefined>): () => Promise<void> {
  const endpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return async () => undefined;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': env.OTEL_SERVICE_NAME || 'ark-broker',
      'service.instance.id': `${os.hostname()}:${process.pid}`,
    }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces` }),
        scheduledDelayMillis: Number(env.OTEL_BSP_SCHEDULE_DELAY) || 5_000,
      }),
    ],
  });
  trace.setGlobalTracerProvider(provider);
  enabled = true;
  return () => provider.shutdown();
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
