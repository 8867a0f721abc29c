import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { InvalidCursorError } from '#ark/errors';
import { serializeJsonParts } from '#ark/event-store';
import { markHeavyRead } from '../tenant-read-share.js';

/** The two answers of a watchable route: its JSON page, or (`?watch=true`) an SSE stream opened on the reply. */
export interface WatchableAnswers {
  page: () => Promise<unknown>;
  watch: () => Promise<void>;
}

/**
 * Answers a watchable route. Nest routes by method and path alone, so one handler serves a path's
 * page and its watch; this is the one place that picks between them, each kept a function of its own.
 */
export async function pageOrWatch(reply: FastifyReply, watch: boolean | undefined, answers: WatchableAnswers): Promise<void> {
  if (watch) {
    await answers.watch();
    return;
  }
  // Serialised here, so event data read as text (JsonText) is written out as it came.
  const parts = serializeJsonParts(await answers.page());
  void reply.type('application/json; charset=utf-8');
  if (parts.reduce((n, part) => n + part.length, 0) <= WHOLE_ANSWER_CHARS) {
    await reply.send(parts.join(''));
    return;
  }
  // A large page (events of megabytes) is written a slice (SLICE_CHARS) per turn of the event loop instead of being
  // joined and encoded in one go, so other requests are served between the slices.
  markHeavyRead(reply.request);
  await reply.send(Readable.from(slices(parts), { objectMode: false }));
}

/** Answers up to this many characters are sent as one string. */
const WHOLE_ANSWER_CHARS = 1024 * 1024;
export const SLICE_CHARS = 32 * 1024;

/** The parts cut into slices of at most SLICE_CHARS, never between the two halves of a surrogate pair. */
function* slices(parts: readonly string[]): Generator<string> {
  for (const part of parts) {
    for (let at = 0; at < part.length;) {
      let end = Math.min(at + SLICE_CHARS, part.length);
      const last = part.charCodeAt(end - 1);
      if (end < part.length && last >= 0xd800 && last <= 0xdbff) end--;
      yield part.slice(at, end);
      at = end;
    }
  }
}

/** A session-stream resume point (`Last-Event-ID` or a cursor): a sequence number. `what` names it in the error. */
export function parseSequence(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text.trim())) throw new InvalidCursorError(`bad ${what} ${JSON.stringify(text)}: expected a sequence number`);
  return Number(text.trim());
}
