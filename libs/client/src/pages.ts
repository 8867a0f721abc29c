/** A page of a keyset-paginated list (`/v2`): `nextCursor` continues it while `hasMore`. */
export interface Page<T> {
  items: T[];
  hasMore: boolean;
  nextCursor?: string | null;
}

/**
 * Every item of a paginated list, page after page: `fetchPage(cursor)` is called with `undefined`
 * first, then with each page's `nextCursor` while it says more follow.
 */
export async function* paginate<T>(fetchPage: (cursor: string | undefined) => Promise<Page<T>>): AsyncGenerator<T, void, undefined> {
  let cursor: string | undefined;
  for (;;) {
    const page = await fetchPage(cursor);
    yield* page.items;
    if (!page.hasMore || !page.nextCursor) return;
    cursor = page.nextCursor;
  }
}
