import { InvalidCursorError } from '#ark/errors';

/**
 * Keyset cursors: base64url of the JSON sort key of a page's last row. Opaque to clients; a cursor
 * that does not decode to a key of the right shape is refused as an invalid cursor.
 */
export interface KeysetCursor<Key extends readonly unknown[]> {
  encode(key: Key): string;
  decode(text: string): Key;
}

function keysetCursor<Key extends readonly (string | number)[]>(isKey: (value: unknown[]) => boolean): KeysetCursor<Key> {
  return {
    encode: (key) => Buffer.from(JSON.stringify(key)).toString('base64url'),
    decode: (text) => {
      let value: unknown;
      try {
        value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
      } catch {
        value = undefined;
      }
      if (!Array.isArray(value) || !isKey(value)) throw new InvalidCursorError('bad cursor: pass the nextCursor of a previous page');
      return value as unknown as Key;
    },
  };
}

/** Sessions page by (last activity, ISO 8601; session id). */
export const sessionCursor = keysetCursor<[string, string]>(
  (v) => v.length === 2 && typeof v[0] === 'string' && !Number.isNaN(Date.parse(v[0])) && typeof v[1] === 'string',
);

/** Queries page by (start time in microseconds, key): a Date would round the time to milliseconds. */
export const queryCursor = keysetCursor<[number, string]>((v) => v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string');

/** Tool calls page by (position of their first event, call key). */
export const toolCallCursor = keysetCursor<[number, string]>((v) => v.length === 2 && Number.isSafeInteger(v[0]) && typeof v[1] === 'string');

/** Messages page by their position in the log. */
export const messageCursor = keysetCursor<[number]>((v) => v.length === 1 && Number.isSafeInteger(v[0]));
