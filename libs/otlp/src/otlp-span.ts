/** An attribute value as JSON: OTLP AnyValue with int64 as a number when safe, else a decimal string. */
export type AttributeValue = string | number | boolean | null | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

/** One span, decoded from OTLP protobuf or JSON into plain values. Ids are lower-case hex when they are ids. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | null;
  traceState: string | null;
  name: string;
  /** OTLP SpanKind number (0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer). */
  kind: number;
  /** Decimal nanoseconds since the epoch; null when absent or 0 (an end of null means "still running"). */
  startTimeUnixNano: string | null;
  endTimeUnixNano: string | null;
  attributes: Attributes;
  resource: Attributes;
  scope: { name: string; version: string | null } | null;
  /** OTLP StatusCode number (0 unset, 1 ok, 2 error). */
  status: { code: number; message: string | null };
  events: { timeUnixNano: string | null; name: string; attributes: Attributes }[];
  links: { traceId: string; spanId: string; attributes: Attributes }[];
}

export interface DecodedTraces {
  spans: OtlpSpan[];
  /** Spans that cannot be stored at all (no trace or span id). */
  rejected: number;
  rejectionReasons: string[];
}

export const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
export const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];
