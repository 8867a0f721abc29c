import type { SpansTable } from '#ark/database';
import type { Attributes, AttributeValue, OtlpSpan } from '#ark/otlp';

/** A span as upstream answers it: OTLP-style attribute list, flattened resource, hex ids. */
export interface UpstreamSpanItem {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes: { key: string; value: OtlpAnyValue }[];
  status: { code: number; message?: string };
  resource: Attributes;
}

type OtlpAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: OtlpAnyValue[] } }
  | { kvlistValue: { values: { key: string; value: OtlpAnyValue }[] } }
  | Record<string, never>;

function anyValue(value: AttributeValue): OtlpAnyValue {
  if (value === null) return {};
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { kvlistValue: { values: keyValues(value) } };
}

function keyValues(attributes: Attributes): { key: string; value: OtlpAnyValue }[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
}

function item(s: {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  name: string;
  kind: number;
  start: string | null;
  end: string | null;
  attributes: Attributes;
  statusCode: number;
  statusMessage: string | null;
  resource: Attributes;
}): UpstreamSpanItem {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
    name: s.name,
    kind: s.kind,
    ...(s.start ? { startTimeUnixNano: s.start } : {}),
    ...(s.end ? { endTimeUnixNano: s.end } : {}),
    attributes: keyValues(s.attributes),
    status: { code: s.statusCode, ...(s.statusMessage ? { message: s.statusMessage } : {}) },
    resource: s.resource,
  };
}

export function spanRowItem(row: SpansTable): UpstreamSpanItem {
  return item({
    traceId: row.trace_id,
    spanId: row.span_id,
    parentSpanId: row.parent_span_id,
    name: row.name,
    kind: row.kind,
    start: row.start_time_unix_nano,
    end: row.end_time_unix_nano,
    attributes: row.attributes as Attributes,
    statusCode: row.status_code,
    statusMessage: row.status_message,
    resource: row.resource as Attributes,
  });
}

export function otlpSpanItem(span: OtlpSpan): UpstreamSpanItem {
  return item({
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    name: span.name,
    kind: span.kind,
    start: span.startTimeUnixNano,
    end: span.endTimeUnixNano,
    attributes: span.attributes,
    statusCode: span.status.code,
    statusMessage: span.status.message,
    resource: span.resource,
  });
}
