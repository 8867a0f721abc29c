import { LRUCache } from 'lru-cache';

interface Bucket {
  tokens: number;
  at: number;
}

type StoreAnswer = { current: number; ttl: number };

/**
 * A token bucket per tenant, as a store for `@fastify/rate-limit` (whose own store counts fixed
 * windows). It holds one second's allowance (`burst`) and refills continuously at `perSecond`: a
 * tenant writing at its limit with ordinary jitter is never refused, and one at 10× its limit gets
 * its allowance spread evenly over the second instead of in one burst at the start of each window,
 * which other tenants' appends would queue behind. The plugin's `max` must be `perSecond` (the bucket's size); an answer above it
 * means "refused", with `ttl` the time until the next token (its Retry-After).
 */
export function tokenBucketStore(perSecond: number) {
  const burst = perSecond;
  return class TokenBucketStore {
    private readonly buckets = new LRUCache<string, Bucket>({ max: 10_000 });

    incr(key: string, answer: (error: Error | null, result: StoreAnswer) => void): void {
      const now = performance.now();
      const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
      bucket.at = now;
      this.buckets.set(key, bucket);
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        answer(null, { current: burst - Math.floor(bucket.tokens), ttl: 0 });
      } else {
        answer(null, { current: burst + 1, ttl: Math.ceil(((1 - bucket.tokens) * 1000) / perSecond) });
      }
    }

    child(): this {
      return this;
    }
  };
}
