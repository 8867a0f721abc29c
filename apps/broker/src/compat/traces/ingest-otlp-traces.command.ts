import { Command, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import { EventAppender } from '#ark/event-store';
import { normalizeSpan, resolveSpanSessions } from '#ark/normalizer';
import type { OtlpSpan } from '#ark/otlp';
import type { CallerIdentity } from '#ark/tenancy';
import { TracesRepository } from './traces.repository.js';

/** Normalise decoded spans into ark events and append them in one atomic append. */
export class IngestOtlpTracesCommand extends Command<void> {
  constructor(
    readonly caller: CallerIdentity,
    readonly spans: readonly OtlpSpan[],
  ) {
    super();
  }
}

@CommandHandler(IngestOtlpTracesCommand)
export class IngestOtlpTracesHandler implements ICommandHandler<IngestOtlpTracesCommand, void> {
  constructor(
    private readonly appender: EventAppender,
    private readonly traces: TracesRepository,
  ) {}

  async execute({ caller, spans }: IngestOtlpTracesCommand): Promise<void> {
    if (spans.length === 0) return;
    const normalized = spans.map(normalizeSpan);
    const orphanTraces = [...new Set(normalized.filter((n) => n.sessionId === null).map((n) => n.event.traceId!))];
    const known = await this.traces.knownSessions({ tenantId: caller.tenantId }, orphanTraces);
    const sessions = resolveSpanSessions(normalized, known);
    await this.appender.append(
      caller,
      normalized.map((n, i) => ({ sessionId: sessions[i]!, event: n.event })),
    );
  }
}
