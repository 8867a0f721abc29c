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
} from './domain-errors.js';
