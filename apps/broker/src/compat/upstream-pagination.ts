import { InvalidPageError } from '#ark/errors';

export const UPSTREAM_DEFAULT_PAGE_SIZE = 100;
export const UPSTREAM_MAX_PAGE_SIZE = 1_000;

/**
 * Upstream's `parsePaginationParams` reading of `limit`: parseInt (`10abc` is 10), refused below 1
 * and above 1000 (not clamped), with upstream's messages; answered `PAGINATION_ERROR` on its routes.
 */
export function upstreamPageLimit(limit: string | undefined): number {
  if (limit === undefined) return UPSTREAM_DEFAULT_PAGE_SIZE;
  const n = parseInt(limit, 10);
  if (Number.isNaN(n) || n < 1) throw new InvalidPageError('limit must be a positive integer');
  if (n > UPSTREAM_MAX_PAGE_SIZE) throw new InvalidPageError(`limit cannot exceed ${UPSTREAM_MAX_PAGE_SIZE}`);
  return n;
}

/** Upstream's `parsePaginationParams` reading of `cursor` (routes whose schema does not check it first): parseInt, ≥ 0. */
export function upstreamPageCursor(cursor: string | undefined): number | undefined {
  if (cursor === undefined) return undefined;
  const n = parseInt(cursor, 10);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidPageError('cursor must be a non-negative integer');
  return n;
}
