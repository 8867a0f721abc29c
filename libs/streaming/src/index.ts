export { SseStream, type SseMessage, type SseOptions } from './sse-stream.js';
