import type { ArkEvent } from '#ark/event-store';

/**
 * Messages that reach this replica before their events commit (live chunks), each with a key that
 * its committed event will carry, numbered without gaps in log order. One is sent without an `id:`
 * once its key is the next after the last message sent (at once, or from a small wait list as soon
 * as the messages before it are sent, ahead or committed), so the stream keeps the log's order and
 * a reader whose commits lag stays live; when its event commits, only the event's `id:` is sent (a
 * block without data, which SSE clients take as the new last event id without dispatching
 * anything). So `Last-Event-ID` only ever names a committed event; a reader that reconnects gets
 * the committed events after it, which repeats what it was sent ahead and had no `id:` for yet, and
 * never what did not commit.
 */
export interface AheadOfLog {
  subscribe(send: (key: number, data: unknown) => void): () => void;
  /** The key of a committed event that may have been sent ahead (undefined: it never is). */
  keyOf(event: ArkEvent): number | undefined;
}

/** Keys sent ahead whose events have not been seen committed: past this, the oldest are forgotten (they then never committed). */
const MAX_SENT_AHEAD = 4096;
/** Messages seen ahead that wait for the ones before them: past this, the oldest are dropped (their committed copies still come). */
const MAX_WAITING = 1024;

/** One stream's order of messages sent ahead of the log and committed events (see AheadOfLog). */
export class AheadOfLogOrder {
  /** The key of the last message sent, ahead or committed. */
  private lastKey: number | undefined;
  private readonly sentAhead = new Set<number>();
  /** Messages seen ahead of a gap after lastKey, by key: the same objects every reader of the query holds. */
  private readonly waiting = new Map<number, unknown>();

  /** A message seen before its event commits; ignored when a message with its key was already sent. */
  offer(key: number, data: unknown): void {
    if (this.lastKey !== undefined && key <= this.lastKey) return;
    this.waiting.set(key, data);
    if (this.waiting.size > MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value!);
  }

  /** The waiting message that follows the last one sent, now counted as sent ahead; undefined when there is none. */
  takeDue(): { data: unknown } | undefined {
    if (this.lastKey === undefined || !this.waiting.has(this.lastKey + 1)) return undefined;
    const key = this.lastKey + 1;
    const data = this.waiting.get(key);
    this.waiting.delete(key);
    this.lastKey = key;
    this.sentAhead.add(key);
    if (this.sentAhead.size > MAX_SENT_AHEAD) this.sentAhead.delete(this.sentAhead.values().next().value!);
    return { data };
  }

  /** A committed event with this key is being written: true when it was sent ahead, so only its `id:` is due. */
  committed(key: number): boolean {
    if (this.sentAhead.delete(key)) return true;
    this.lastKey = this.lastKey === undefined ? key : Math.max(this.lastKey, key);
    this.waiting.delete(key);
    return false;
  }

  clear(): void {
    this.waiting.clear();
    this.sentAhead.clear();
  }
}
