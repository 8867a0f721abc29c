import protobuf from 'protobufjs';
import { OTLP_TRACE_PROTO } from './otlp-trace.schema.js';
import { SPAN_KINDS, STATUS_CODES, type Attributes, type AttributeValue, type DecodedTraces, type OtlpSpan } from './otlp-span.js';
import { MalformedInputError } from '#ark/errors';

/** Undecodable input: the whole request is refused (HTTP 400). */
export class OtlpDecodeError extends MalformedInputError {}

export interface OtlpDecoderLimits {
  /** Longer string values are cut to this many characters (a marker says so). */
  maxStringLength: number;
  /** AnyValue nesting below this depth is replaced by a marker. */
  maxDepth: number;
}

const DEFAULT_LIMITS: OtlpDecoderLimits = { maxStringLength: 64 * 1024, maxDepth: 16 };

const root = protobuf.parse(OTLP_TRACE_PROTO, { keepCase: true }).root;
const RequestType = root.lookupType('opentelemetry.proto.ExportTraceServiceRequest');
const ResponseType = root.lookupType('opentelemetry.proto.ExportTraceServiceResponse');

type Json = Record<string, unknown>;

/**
 * Decodes OTLP/HTTP trace exports, protobuf (with the published schema, via protobufjs) or JSON, as
 * leniently as the Collector: int64 as string or number, enums by name or number, ids in hex, base64,
 * or opaque strings (kept as given when they are not ids of the right length).
 */
export class OtlpTraceDecoder {
  constructor(private readonly limits: OtlpDecoderLimits = DEFAULT_LIMITS) {}

  fromProtobuf(body: Uint8Array): DecodedTraces {
    let message: Json;
    try {
      // Plain object of the fields actually present (decoded messages expose proto3 defaults, oneof
      // members included, on their prototype); int64/fixed64 as decimal strings, bytes as Buffers.
      message = RequestType.toObject(RequestType.decode(body), { longs: String });
    } catch (error) {
      throw new OtlpDecodeError(`malformed OTLP protobuf: ${(error as Error).message}`);
    }
    return this.collect(message, 'resource_spans', 'scope_spans');
  }

  fromJson(body: unknown): DecodedTraces {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new OtlpDecodeError('OTLP JSON must be an ExportTraceServiceRequest object');
    }
    return this.collect(body as Json, 'resourceSpans', 'scopeSpans');
  }

  private collect(request: Json, resourceSpansKey: string, scopeSpansKey: string): DecodedTraces {
    const result: DecodedTraces = { spans: [], rejected: 0, rejectionReasons: [] };
    for (const rs of list(pick(request, resourceSpansKey, 'resource_spans'))) {
      const resource = this.attributes(list(pick(obj(pick(obj(rs), 'resource')), 'attributes')));
      for (const ss of list(pick(obj(rs), scopeSpansKey, 'scope_spans'))) {
        const scopeJson = obj(pick(obj(ss), 'scope'));
        const scope = Object.keys(scopeJson).length ? { name: str(pick(scopeJson, 'name')) ?? '', version: str(pick(scopeJson, 'version')) } : null;
        for (const raw of list(pick(obj(ss), 'spans'))) {
          const span = this.span(obj(raw), resource, scope);
          if (typeof span === 'string') {
            result.rejected++;
            if (result.rejectionReasons.length < 5) result.rejectionReasons.push(span);
          } else {
            result.spans.push(span);
          }
        }
      }
    }
    return result;
  }

  /** The span, or why it cannot be stored. */
  private span(s: Json, resource: Attributes, scope: OtlpSpan['scope']): OtlpSpan | string {
    const traceId = id(pick(s, 'traceId', 'trace_id'), 16);
    const spanId = id(pick(s, 'spanId', 'span_id'), 8);
    const name = str(pick(s, 'name')) ?? '';
    if (!traceId || !spanId) return `span ${JSON.stringify(name)} has no ${traceId ? 'spanId' : 'traceId'}`;
    const status = obj(pick(s, 'status'));
    return {
      traceId,
      spanId,
      parentSpanId: id(pick(s, 'parentSpanId', 'parent_span_id'), 8),
      traceState: str(pick(s, 'traceState', 'trace_state')) || null,
      name: this.text(name),
      kind: enumValue(pick(s, 'kind'), SPAN_KINDS),
      startTimeUnixNano: nanos(pick(s, 'startTimeUnixNano', 'start_time_unix_nano')),
      endTimeUnixNano: nanos(pick(s, 'endTimeUnixNano', 'end_time_unix_nano')),
      attributes: this.attributes(list(pick(s, 'attributes'))),
      resource,
      scope,
      status: { code: enumValue(pick(status, 'code'), STATUS_CODES), message: str(pick(status, 'message')) || null },
      events: list(pick(s, 'events')).map((e) => ({
        timeUnixNano: nanos(pick(obj(e), 'timeUnixNano', 'time_unix_nano')),
        name: this.text(str(pick(obj(e), 'name')) ?? ''),
        attributes: this.attributes(list(pick(obj(e), 'attributes'))),
      })),
      links: list(pick(s, 'links')).flatMap((l) => {
        const linkTrace = id(pick(obj(l), 'traceId', 'trace_id'), 16);
        const linkSpan = id(pick(obj(l), 'spanId', 'span_id'), 8);
        return linkTrace && linkSpan ? [{ traceId: linkTrace, spanId: linkSpan, attributes: this.attributes(list(pick(obj(l), 'attributes'))) }] : [];
      }),
    };
  }

  private attributes(keyValues: unknown[], depth = 0): Attributes {
    const out: Attributes = {};
    for (const kv of keyValues) {
      const key = str(pick(obj(kv), 'key'));
      if (key === null) continue;
      out[this.text(key)] = this.value(pick(obj(kv), 'value'), depth + 1);
    }
    return out;
  }

  private value(raw: unknown, depth: number): AttributeValue {
    if (depth > this.limits.maxDepth) return '[truncated: nested too deep]';
    const v = obj(raw);
    const s = pick(v, 'stringValue', 'string_value');
    if (s !== undefined) return this.text(scalarText(s));
    const b = pick(v, 'boolValue', 'bool_value');
    if (b !== undefined) return b === true || b === 'true';
    const i = pick(v, 'intValue', 'int_value');
    if (i !== undefined) return int64(i);
    const d = pick(v, 'doubleValue', 'double_value');
    if (d !== undefined) return typeof d === 'number' ? d : Number(d);
    const arr = pick(v, 'arrayValue', 'array_value');
    if (arr !== undefined) return list(pick(obj(arr), 'values')).map((x) => this.value(x, depth + 1));
    const kvl = pick(v, 'kvlistValue', 'kvlist_value');
    if (kvl !== undefined) return this.attributes(list(pick(obj(kvl), 'values')), depth);
    const bytes = pick(v, 'bytesValue', 'bytes_value');
    if (bytes !== undefined) return bytes instanceof Uint8Array ? Buffer.from(bytes).toString('base64') : this.text(scalarText(bytes));
    return null;
  }

  private text(value: string): string {
    // NUL cannot be stored in PostgreSQL text or jsonb; other characters pass through.
    const clean = value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
    if (clean.length <= this.limits.maxStringLength) return clean;
    return `${clean.slice(0, this.limits.maxStringLength)}…[truncated ${clean.length - this.limits.maxStringLength} chars]`;
  }
}

/** ExportTraceServiceResponse, in the request's encoding. */
export function encodeTraceResponse(format: 'protobuf' | 'json', rejected: number, errorMessage: string): Uint8Array | Json {
  const partial = rejected > 0 ? { rejectedSpans: rejected, errorMessage } : undefined;
  if (format === 'json') return partial ? { partialSuccess: { rejectedSpans: String(rejected), errorMessage } } : {};
  const message = ResponseType.create(partial ? { partial_success: { rejected_spans: rejected, error_message: errorMessage } } : {});
  return ResponseType.encode(message).finish();
}

/** For tests and tools: encodes a request object (protobuf field names) with the same schema. */
export function encodeTraceRequest(request: Json): Uint8Array {
  return RequestType.encode(RequestType.fromObject(request)).finish();
}

function pick(o: Json, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

function obj(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Json) : {};
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : null;
}

/** Text of a scalar (int64 arrives as a string or a number). */
function scalarText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v) ?? '';
}

function enumValue(v: unknown, names: readonly string[]): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const byName = names.indexOf(v);
    if (byName >= 0) return byName;
    if (/^\d+$/.test(v)) return Number(v);
  }
  return 0;
}

function int64(v: unknown): number | string {
  const text = scalarText(v);
  if (!/^-?\d+$/.test(text)) return text;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

function nanos(v: unknown): string | null {
  if (v === undefined) return null;
  const text = scalarText(v);
  if (!/^\d+$/.test(text) || /^0+$/.test(text)) return null;
  return BigInt(text).toString();
}

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Bytes → hex; strings: hex of the right length as is, base64 of the right length → hex, else as given. */
function id(v: unknown, bytes: number): string | null {
  if (v instanceof Uint8Array) {
    if (v.length === 0 || v.every((b) => b === 0)) return null;
    return Buffer.from(v).toString('hex');
  }
  if (typeof v !== 'string' || v.length === 0) return null;
  if (v.length === bytes * 2 && HEX.test(v)) return /^0+$/.test(v) ? null : v.toLowerCase();
  if (BASE64.test(v)) {
    const decoded = Buffer.from(v, 'base64');
    if (decoded.length === bytes && decoded.toString('base64').replace(/=+$/, '') === v.replace(/=+$/, '')) return decoded.toString('hex');
  }
  return v.slice(0, 256);
}
