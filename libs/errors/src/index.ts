export {
  DomainError,
  InvalidArgumentError,
  InvalidCursorError,
  MalformedInputError,
  NotFoundError,
  TooManyWatchesError,
  UnavailableError,
} from './domain-errors.js';
