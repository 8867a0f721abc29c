export {
  ConflictError,
  DomainError,
  ForbiddenError,
  InvalidArgumentError,
  InvalidCursorError,
  InvalidPageError,
  MalformedInputError,
  NamespaceForbiddenError,
  NotFoundError,
  TooManyWatchesError,
  UnavailableError,
  WriteShareExceededError,
} from './domain-errors.js';
