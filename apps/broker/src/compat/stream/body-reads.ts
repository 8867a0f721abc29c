import type { Readable } from 'node:stream';

/**
 * The body's reads, in order, until it ends or `signal` aborts (then it just stops: the unread rest
 * stays in the socket and nothing is destroyed, so an answer can still go out on it). Unlike
 * racing `body.iterator()` against the signal, each wait adds listeners and removes them again, so
 * a long upload accumulates nothing. Throws what broke the body (e.g. the client went away).
 */
export async function* bodyReads(body: Readable, signal: AbortSignal): AsyncGenerator<Buffer> {
  while (!signal.aborted) {
    const data = body.read() as Buffer | null;
    if (data !== null) {
      yield data;
      continue;
    }
    if (body.errored) throw body.errored;
    if (body.readableEnded) return;
    if (body.destroyed) throw new Error('the request body was closed before it ended');
    await new Promise<void>((resolve) => {
      const wake = () => {
        body.off('readable', wake).off('end', wake).off('error', wake).off('close', wake);
        signal.removeEventListener('abort', wake);
        resolve();
      };
      body.on('readable', wake).on('end', wake).on('error', wake).on('close', wake);
      signal.addEventListener('abort', wake);
    });
  }
}
