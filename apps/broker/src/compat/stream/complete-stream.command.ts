import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender } from '#ark/event-store';
import { streamCompletedEvent } from '#ark/normalizer';
import type { CallerIdentity } from '#ark/tenancy';
import { ChunkStreamRepository } from './chunk-stream.repository.js';

export type StreamCompletion = 'completed' | 'already_completed';

/** `POST /stream/:query/complete`: append `llm.stream.completed` once; undefined when the query has no chunk. */
export class CompleteChunkStreamCommand extends Command<StreamCompletion | undefined> {
  constructor(
    readonly caller: CallerIdentity,
    readonly queryId: string,
  ) {
    super();
  }
}

@CommandHandler(CompleteChunkStreamCommand)
export class CompleteChunkStreamHandler implements ICommandHandler<CompleteChunkStreamCommand, StreamCompletion | undefined> {
  constructor(
    private readonly chunks: ChunkStreamRepository,
    private readonly appender: EventAppender,
  ) {}

  async execute({ caller, queryId }: CompleteChunkStreamCommand): Promise<StreamCompletion | undefined> {
    const stream = await this.chunks.queryStream({ tenantId: caller.tenantId }, queryId);
    if (!stream) return undefined;
    if (stream.completed) return 'already_completed';
    // Two completes racing both get here: the completion's dedupe key (in the session of the query's
    // first chunk, the same for both) lets only one append; the other comes back as a duplicate.
    const [appended] = await this.appender.append(caller, [
      { sessionId: stream.sessionId, event: streamCompletedEvent(queryId, stream.run, stream.chunkCount, stream.purgedThrough) },
    ]);
    return appended?.duplicate ? 'already_completed' : 'completed';
  }
}
