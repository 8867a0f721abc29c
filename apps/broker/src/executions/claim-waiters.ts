import { Injectable, type OnModuleInit } from '@nestjs/common';
import { NotificationChannels } from '#ark/event-store';
import { QUEUE_CHANNEL, type QueueWakeUp } from './execution.repository.js';

interface Waiter {
  tenantId: string;
  /** null: serves every namespace. */
  namespaces: readonly string[] | null;
  woken: boolean;
  wake: () => void;
}

/** A registered wait: `woken` resolves when a query it may claim became pending (or the listener reconnected). */
export interface Wait {
  readonly woken: Promise<void>;
  cancel(): void;
}

/**
 * Executors long-polling for claims on this replica. The queue's NOTIFY (ark_query_queue, sent in
 * the transaction that made queries pending) reaches them through the process's one LISTEN
 * connection: each wake-up wakes as many waiters of that tenant and namespace as queries became
 * pending, oldest waiter first, so one submit does not send every idle executor to the database.
 */
@Injectable()
export class ClaimWaiters implements OnModuleInit {
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly channels: NotificationChannels) {}

  onModuleInit(): void {
    this.channels.listen(QUEUE_CHANNEL, {
      onNotification: (payload) => this.onWakeUp(payload),
      // Wake-ups sent while the connection was down are lost: everyone looks again.
      onConnected: () => this.wakeAll(),
    });
  }

  get size(): number {
    return this.waiters.size;
  }

  /** Registers before the caller looks at the queue, so a query made pending meanwhile still wakes it. */
  register(tenantId: string, namespaces: readonly string[] | null): Wait {
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const waiter: Waiter = { tenantId, namespaces, woken: false, wake };
    waiter.wake = () => {
      waiter.woken = true;
      this.waiters.delete(waiter);
      wake();
    };
    this.waiters.add(waiter);
    return { woken, cancel: () => this.waiters.delete(waiter) };
  }

  wakeAll(): void {
    for (const w of [...this.waiters]) w.wake();
  }

  private onWakeUp(payload: string): void {
    let wakeUp: QueueWakeUp;
    try {
      wakeUp = JSON.parse(payload) as QueueWakeUp;
    } catch {
      this.wakeAll();
      return;
    }
    let left = Math.max(1, wakeUp.c);
    // Set iteration is insertion order: the longest waiting first.
    for (const w of this.waiters) {
      if (left === 0) break;
      if (w.tenantId !== wakeUp.t) continue;
      if (w.namespaces && wakeUp.n && !wakeUp.n.some((n) => w.namespaces!.includes(n))) continue;
      w.wake();
      left--;
    }
  }
}
