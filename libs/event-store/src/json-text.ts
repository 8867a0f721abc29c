import { randomBytes } from 'node:crypto';

/** What serializeJsonParts is collecting, while it runs (it is synchronous, so one at a time). */
let collecting: { marker: string; texts: string[] } | undefined;

/**
 * A JSON value kept as the text PostgreSQL sent (an event's `data` read for an answer): parsing a
 * 10 MB event only to serialise it again blocked the event loop for ~100 ms per page, during which
 * every other tenant's request waited. serializeJsonParts puts the text into its output unchanged;
 * any other JSON.stringify still gets the parsed value, only slower.
 */
export class JsonText {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    if (collecting === undefined) return JSON.parse(this.text);
    return `${collecting.marker}${collecting.texts.push(this.text) - 1}`;
  }
}

/**
 * JSON.stringify, with every JsonText in `value` written as its text, as the parts of the answer in
 * order (the skeleton's pieces and the texts between them), so a large answer can be written piece by
 * piece without being joined. Each JsonText stands in the skeleton as a string holding a NUL and a
 * random marker; JSON.stringify escapes any NUL of other strings as `\u0000` too, but a caller cannot
 * guess the marker, and the escaped backslash of a string that spells `\u0000` itself keeps it from matching.
 */
export function serializeJsonParts(value: unknown): string[] {
  const marker = `\u0000${randomBytes(9).toString('base64url')}:`;
  const texts: string[] = [];
  collecting = { marker, texts };
  let skeleton: string;
  try {
    skeleton = JSON.stringify(value);
  } finally {
    collecting = undefined;
  }
  if (texts.length === 0) return [skeleton];
  const stand = JSON.stringify(marker).slice(0, -1);
  // With one capture group, split answers [piece, index, piece, index, …, piece].
  return skeleton.split(new RegExp(`${escapeRegExp(stand)}(\\d+)"`)).map((part, i) => (i % 2 === 0 ? part : texts[Number(part)]!));
}

function escapeRegExp(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
