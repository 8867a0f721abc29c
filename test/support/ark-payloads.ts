/** Producer payloads shaped like Ark's (written for the tests, not copied): decoded OTLP spans, operation event bodies. */
import type { OperationEvent } from '#ark/normalizer';
import type { OtlpSpan } from '#ark/otlp';

/** Decimal nanoseconds since the epoch of a time in ms. */
export const nanos = (ms: number): string => (BigInt(ms) * 1_000_000n).toString();

/** A decoded span as Ark's controller exports it; by default an ended `query.weather-report` span. */
export function otlpSpan(overrides: Partial<OtlpSpan> = {}): OtlpSpan {
  return {
    traceId: '5b8efff798038103d269b633813fc60c',
    spanId: 'eee19b7ec3c1b174',
    parentSpanId: 'eee19b7ec3c1b173',
    traceState: null,
    name: 'query.weather-report',
    kind: 1,
    startTimeUnixNano: '1718000000000000000', // 2024-06-10T06:13:20.000Z
    endTimeUnixNano: '1718000001250500000', // 1250.5 ms later
    attributes: {},
    resource: { 'service.name': 'ark-controller' },
    scope: { name: 'ark/controller', version: null },
    status: { code: 0, message: null },
    events: [],
    links: [],
    ...overrides,
  };
}

/** The body Ark's controller POSTs to `/events` for one `reason`. */
export function operationEvent(reason: string, data: OperationEvent['data'], timestamp: string, extra: Partial<OperationEvent> = {}): OperationEvent {
  return {
    timestamp,
    eventType: reason.endsWith('Error') ? 'Warning' : 'Normal',
    reason,
    message: typeof data.queryName === 'string' ? `${reason} ${data.queryName}` : reason,
    data,
    ...extra,
  };
}
