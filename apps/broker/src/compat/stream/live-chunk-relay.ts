import { Injectable } from '@nestjs/common';

/** A chunk line as it is handed to readers before it commits: its index in the query's stream, and the chunk. */
export interface LiveChunk {
  index: number;
  chunk: unknown;
}

type LiveChunkListener = (chunk: LiveChunk) => void;

/**
 * Hands the chunk lines of this process's uploads to this process's readers of the same query as
 * they are read, before they commit: a token reaches a watcher in microseconds instead of after the
 * append transaction, its NOTIFY and a re-read. The log stays the source of truth: a reader sends a
 * live chunk without an `id:` and only in index order right after what it already sent, and its
 * committed copy then moves the reader's `Last-Event-ID` (docs/api.md, "Live chunks").
 */
@Injectable()
export class LiveChunkRelay {
  private readonly listeners = new Map<string, Set<LiveChunkListener>>();

  /** Readers of `queryId` in this tenant get each published chunk until they unsubscribe. */
  subscribe(tenantId: string, queryId: string, listener: LiveChunkListener): () => void {
    const key = `${tenantId}\u0000${queryId}`;
    let set = this.listeners.get(key);
    if (!set) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(key) === set) this.listeners.delete(key);
    };
  }

  publish(tenantId: string, queryId: string, chunk: LiveChunk): void {
    const set = this.listeners.get(`${tenantId}\u0000${queryId}`);
    if (!set) return;
    for (const listener of [...set]) listener(chunk);
  }
}
