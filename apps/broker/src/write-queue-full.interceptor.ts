import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, throwError, type Observable } from 'rxjs';
import { WriteQueueFullError } from '#ark/event-store';
import { ApiError } from '#ark/http';

/** A full write queue is back-pressure, not a fault: answer 503 with Retry-After. */
@Injectable()
export class WriteQueueFullInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((error: unknown) =>
        throwError(() => (error instanceof WriteQueueFullError ? ApiError.unavailable(error.message, error.retryAfterSeconds) : error)),
      ),
    );
  }
}
