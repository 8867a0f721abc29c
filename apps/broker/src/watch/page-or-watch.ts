import type { FastifyReply } from 'fastify';
import { InvalidCursorError } from '#ark/errors';
import { serializeJson } from '#ark/event-store';

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
  const page = await answers.page();
  // Serialised here, so event data read as text (JsonText) is written out as it came.
  await reply.type('application/json; charset=utf-8').send(serializeJson(page));
}

/** A session-stream resume point (`Last-Event-ID` or a cursor): a sequence number. `what` names it in the error. */
export function parseSequence(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text.trim())) throw new InvalidCursorError(`bad ${what} ${JSON.stringify(text)}: expected a sequence number`);
  return Number(text.trim());
}
