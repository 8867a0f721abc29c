export {
  DomainError,
  InvalidArgumentError,
  InvalidCursorError,
  MalformedInputError,
  NamespaceForbiddenError,
  NotFoundError,
  TooManyWatchesError,
  UnavailableError,
} from './domain-errors.js';
