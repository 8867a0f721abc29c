import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, throwError, type Observable } from 'rxjs';
import { NamespaceForbiddenError, UnstorableEventsError, WriteQueueFullError } from '#ark/event-store';
import { ApiError } from '#ark/http';

/** Maps the event store's expected failures to answers: a full queue is 503 + Retry-After, bad data 400, a foreign namespace 403. */
@Injectable()
export class EventStoreErrorsInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(catchError((error: unknown) => throwError(() => toApiError(error))));
  }
}

function toApiError(error: unknown): unknown {
  if (error instanceof WriteQueueFullError) return ApiError.unavailable(error.message, error.retryAfterSeconds);
  if (error instanceof UnstorableEventsError) return ApiError.badRequest(error.message);
  if (error instanceof NamespaceForbiddenError) return new ApiError(403, 'namespace_forbidden', error.message);
  return error;
}
