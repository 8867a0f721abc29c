export type { Attributes, AttributeValue, DecodedTraces, OtlpSpan } from './otlp-span.js';
export { encodeTraceRequest, encodeTraceResponse, OtlpDecodeError, OtlpTraceDecoder, type OtlpDecoderLimits } from './otlp-trace-decoder.js';
