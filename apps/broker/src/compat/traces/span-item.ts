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

/** A stored span (`data.span` of an `otlp` event) as upstream answers it. */
export function otlpSpanItem(span: OtlpSpan): UpstreamSpanItem {
  return {
    traceId: span.traceId,
    spanId: span.spanId,
    ...(span.parentSpanId ? { parentSpanId: span.parentSpanId } : {}),
    name: span.name,
    kind: span.kind,
    ...(span.startTimeUnixNano ? { startTimeUnixNano: span.startTimeUnixNano } : {}),
    ...(span.endTimeUnixNano ? { endTimeUnixNano: span.endTimeUnixNano } : {}),
    attributes: keyValues(span.attributes),
    status: { code: span.status.code, ...(span.status.message ? { message: span.status.message } : {}) },
    resource: span.resource,
  };
}
