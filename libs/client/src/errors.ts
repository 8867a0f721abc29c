/** What every error answer of the broker holds (docs/api.md#errors). */
export interface ErrorBody {
  error: { code: string; message: string; requestId: string };
}

/** An error answer of the broker: its status, its `error.code`, message and request id. */
export class BrokerError extends Error {
  override readonly name: string = 'BrokerError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    /** Seconds the broker asked the caller to wait (`Retry-After`), on 429 and 503. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${status} ${code}: ${message}`);
  }
}

/** 400: bad input, a failed validation or a cursor that is not one of the stream's. */
export class BadRequestError extends BrokerError {
  override readonly name = 'BadRequestError';
}
/** 401: no, invalid, expired or revoked credentials. */
export class UnauthorizedError extends BrokerError {
  override readonly name = 'UnauthorizedError';
}
/** 403: the caller's roles (or key's namespaces) do not allow it. */
export class ForbiddenError extends BrokerError {
  override readonly name = 'ForbiddenError';
}
/** 404: unknown, or not the caller's to see (answered alike). */
export class NotFoundError extends BrokerError {
  override readonly name = 'NotFoundError';
}
/** 429: the tenant's write rate or the user's watch streams are over their limit; see `retryAfterSeconds`. */
export class RateLimitedError extends BrokerError {
  override readonly name = 'RateLimitedError';
}
/** 503: the write queue is full or the broker is shutting down; see `retryAfterSeconds`. */
export class UnavailableError extends BrokerError {
  override readonly name = 'UnavailableError';
}

const CLASSES: Record<number, typeof BrokerError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  429: RateLimitedError,
  503: UnavailableError,
};

/** Whether a failed call is worth repeating after a pause (overload, shutdown, a 5xx). */
export const isRetryable = (error: BrokerError) => error.status === 429 || error.status >= 500;

/** The typed error of a non-2xx answer (reads its body). */
export async function brokerErrorOf(response: Response): Promise<BrokerError> {
  const text = await response.text().catch(() => '');
  let code = `http_${response.status}`;
  let message = text.slice(0, 500) || response.statusText;
  let requestId = response.headers.get('x-request-id') ?? undefined;
  try {
    const body = JSON.parse(text) as Partial<ErrorBody> & { error?: unknown };
    if (body.error && typeof body.error === 'object') {
      const error = body.error as Partial<ErrorBody['error']>;
      code = error.code ?? code;
      message = error.message ?? message;
      requestId = error.requestId ?? requestId;
    } else if (typeof body.error === 'string') {
      message = body.error; // /v1/traces keeps upstream's `{"error":"<text>"}`
    }
  } catch {
    // not JSON: the text is the message
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  const Class = CLASSES[response.status] ?? BrokerError;
  return new Class(response.status, code, message, requestId, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined);
}
