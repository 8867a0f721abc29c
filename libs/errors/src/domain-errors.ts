/**
 * Expected failures, named by what went wrong rather than by an HTTP status. Services and
 * repositories throw them; the HTTP edge (libs/http's exception filter) maps each kind to its answer.
 */
export abstract class DomainError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The thing asked for does not exist, or the caller may not see it. */
export class NotFoundError extends DomainError {}

/** A value the caller passed is not acceptable. */
export class InvalidArgumentError extends DomainError {}

/** A page size or offset outside what a list accepts (upstream's pagination check: `limit`, `cursor`). */
export class InvalidPageError extends DomainError {}

/** A pagination cursor or resume id the caller passed is not one the service handed out. */
export class InvalidCursorError extends DomainError {}

/** The caller's input cannot be read or stored (undecodable body, data the database refuses). */
export class MalformedInputError extends DomainError {}

/** The request contradicts the state it acts on (a different body under a used id, a stale attempt): nothing was changed. */
export class ConflictError extends DomainError {}

/** The caller's roles do not allow this (e.g. only a tenant's admin sets its retention). */
export class ForbiddenError extends DomainError {}

/** The writer named a namespace its credentials are not bound to; nothing was written. */
export class NamespaceForbiddenError extends DomainError {
  constructor(
    readonly allowed: readonly string[],
    readonly namespace: string,
  ) {
    super(`this key may write namespaces ${allowed.join(', ')}, not ${JSON.stringify(namespace)}`);
  }
}

/** The caller holds as many watch streams as allowed. */
export class TooManyWatchesError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The service cannot take the work now; the caller should retry after a while. */
export class UnavailableError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

/** The caller's tenant holds its whole share of the write path; others are not held up by it. Retry later. */
export class WriteShareExceededError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}
