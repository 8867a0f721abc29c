import { InvalidArgumentError } from '#ark/errors';
import type { TenantRetentionRepository, RetentionOverrides } from './tenant-retention.repository.js';

/** A tenant's visibility TTLs in effect: its overrides over the broker's settings. */
export interface EffectiveRetention {
  messageTtlSeconds: number;
  eventTtlSeconds: number;
  sessionsTtlSeconds: number;
}

/** How long an effective retention is reused before it is read again: a change reaches every replica within this. */
export const RETENTION_CACHE_MS = 5_000;

/**
 * Per-tenant retention (docs/architecture.md#retention): a tenant's setting overrides the broker's
 * MESSAGE_/EVENT_/SESSIONS_VISIBILITY_TTL_SECONDS. Appends ask it for their default TTLs, so it
 * caches per tenant (RETENTION_CACHE_MS).
 */
export class RetentionPolicy {
  private readonly cache = new Map<string, { at: number; value: Promise<EffectiveRetention> }>();

  constructor(
    private readonly defaults: EffectiveRetention,
    private readonly repository: TenantRetentionRepository,
  ) {}

  /** The tenant's retention in effect. */
  effective(tenantId: string): Promise<EffectiveRetention> {
    const now = Date.now();
    const cached = this.cache.get(tenantId);
    if (cached && now - cached.at < RETENTION_CACHE_MS) return cached.value;
    const value = this.repository.find({ tenantId }).then((o) => this.apply(o));
    value.catch(() => this.cache.delete(tenantId));
    this.cache.set(tenantId, { at: now, value });
    return value;
  }

  /** The tenant's overrides as stored. */
  overrides(tenantId: string): Promise<RetentionOverrides> {
    return this.repository.find({ tenantId });
  }

  /** Stores the tenant's overrides after checking them as start-up checks the settings; answers the retention now in effect. */
  async set(tenantId: string, overrides: RetentionOverrides): Promise<EffectiveRetention> {
    const effective = this.apply(overrides);
    const contents = Math.max(effective.messageTtlSeconds, effective.eventTtlSeconds);
    if (effective.sessionsTtlSeconds < contents) {
      throw new InvalidArgumentError(
        `sessionsTtlSeconds ${effective.sessionsTtlSeconds}: must be at least the message and event TTLs in effect (${contents}), ` +
          'so a session never disappears while its messages and events are still kept',
      );
    }
    await this.repository.save({ tenantId }, overrides);
    this.cache.delete(tenantId);
    return effective;
  }

  private apply(o: RetentionOverrides): EffectiveRetention {
    return {
      messageTtlSeconds: o.messageTtlSeconds ?? this.defaults.messageTtlSeconds,
      eventTtlSeconds: o.eventTtlSeconds ?? this.defaults.eventTtlSeconds,
      sessionsTtlSeconds: o.sessionsTtlSeconds ?? this.defaults.sessionsTtlSeconds,
    };
  }
}
