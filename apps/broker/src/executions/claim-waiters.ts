import { randomUUID } from 'node:crypto';
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
 * A submit made through this replica wakes its waiters here as soon as it has committed (`wake`)
 * instead of after its NOTIFY's round trip through PostgreSQL; the NOTIFY names this replica as its
 * `origin`, so the listener here passes it over and other replicas act on it.
 */
@Injectable()
export class ClaimWaiters implements OnModuleInit {
  private readonly waiters = new Set<Waiter>();
  /** This replica, as queue NOTIFYs name it (QueueWakeUp.o). */
  readonly origin = randomUUID();

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
    if (wakeUp.o === this.origin) return;
    this.wake(wakeUp.t, wakeUp.n ?? null, wakeUp.c);
  }

  /**
   * Wakes up to `count` waiters of the tenant that serve one of `namespaces` (null: any): `count`
   * queries became pending there, by a NOTIFY or by a statement of this replica that named it as origin.
   */
  wake(tenantId: string, namespaces: readonly string[] | null, count: number): void {
    let left = Math.max(1, count);
    // Set iteration is insertion order: the longest waiting first.
    for (const w of this.waiters) {
      if (left === 0) break;
      if (w.tenantId !== tenantId) continue;
      if (w.namespaces && namespaces && !namespaces.some((n) => w.namespaces!.includes(n))) continue;
      w.wake();
      left--;
    }
  }
}
