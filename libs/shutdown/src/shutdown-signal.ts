/**
 * Raised once when the process starts shutting down (SIGTERM). Work that would otherwise hold the
 * shutdown open, SSE streams and long chunk uploads, listens to `signal` and ends itself early, and
 * readiness turns 503 so load balancers stop sending new requests.
 */
export class ShutdownSignal {
  private readonly controller = new AbortController();

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get draining(): boolean {
    return this.controller.signal.aborted;
  }

  begin(): void {
    this.controller.abort();
  }

  /** Runs `handler` when shutdown begins (at once if it already has); returns the unsubscribe. */
  onDrain(handler: () => void): () => void {
    if (this.draining) {
      handler();
      return () => undefined;
    }
    this.signal.addEventListener('abort', handler, { once: true });
    return () => this.signal.removeEventListener('abort', handler);
  }
}
