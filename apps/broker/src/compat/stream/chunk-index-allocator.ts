import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { ReadScope } from '#ark/database';
import { ChunkStreamRepository } from './chunk-stream.repository.js';

/** The chunk indexes of one query while uploads to it are open in this process. */
export interface ChunkIndexLease {
  /** The next index, in the order lines are read. */
  take(): number;
  release(): void;
}

interface Counter {
  next: number;
  users: number;
  loaded: Promise<void>;
}

/** Queries whose last handed-out index this process remembers after their uploads ended. */
const REMEMBERED_QUERIES = 10_000;

/**
 * Hands out `llm.chunk` indexes per query. The first upload to a query reads where the log left off;
 * uploads to the same query that overlap in this process share one counter, so their indexes never
 * collide. When the last one ends the counter is dropped, and the next upload (on any replica) reads
 * the log again, which by then holds everything acknowledged: sequential uploads, the producers'
 * way, get contiguous indexes wherever they land. An index this process handed out is never handed
 * out again by it, even when its upload failed and the log ends below it: its chunk may have been
 * sent live to a reader, which takes a later commit of the same index for that chunk's. Only uploads
 * to one query overlapping on two replicas can repeat an index; the index is informational, never
 * part of a dedupe key.
 */
@Injectable()
export class ChunkIndexAllocator {
  private readonly counters = new Map<string, Counter>();
  private readonly handedOut = new LRUCache<string, number>({ max: REMEMBERED_QUERIES });

  constructor(private readonly chunks: ChunkStreamRepository) {}

  async open(scope: ReadScope, queryId: string): Promise<ChunkIndexLease> {
    const key = `${scope.tenantId}\u0000${queryId}`;
    let counter = this.counters.get(key);
    if (!counter) {
      const fresh: Counter = { next: 0, users: 0, loaded: Promise.resolve() };
      fresh.loaded = this.chunks.nextChunkIndex(scope, queryId).then((next) => void (fresh.next = Math.max(next, this.handedOut.get(key) ?? 0)));
      this.counters.set(key, fresh);
      counter = fresh;
    }
    const held = counter;
    held.users++;
    const release = () => {
      if (--held.users > 0 || this.counters.get(key) !== held) return;
      this.counters.delete(key);
      this.handedOut.set(key, held.next);
    };
    try {
      await held.loaded;
    } catch (error) {
      release();
      throw error;
    }
    let released = false;
    return {
      take: () => held.next++,
      release: () => {
        if (released) return;
        released = true;
        release();
      },
    };
  }
}
