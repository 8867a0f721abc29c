export { BrokerClient, type BrokerApi, type BrokerClientOptions, type ChunkUploadResult, type TokenSource } from './broker-client.js';
export {
  BadRequestError,
  BrokerError,
  brokerErrorOf,
  ForbiddenError,
  isRetryable,
  NotFoundError,
  RateLimitedError,
  UnauthorizedError,
  UnavailableError,
  type ErrorBody,
} from './errors.js';
export { paginate, type Page } from './pages.js';
export * from './types.js';
export { DONE, watchStream, type OpenStream, type WatchMessage, type WatchOptions } from './watch.js';
