import { Command, CommandBus, CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { StreamEvent } from '#ark/event-store';
import { normalizeSpan, resolveSpanSessions } from '#ark/normalizer';
import type { OtlpSpan } from '#ark/otlp';
import { AppendEventsCommand } from '../../events/append-events.command.js';
import { TracesRepository } from './traces.repository.js';

/** Normalise decoded spans into ark events and append them in one atomic append. */
export class IngestOtlpTracesCommand extends Command<void> {
  constructor(
    readonly tenantId: string,
    readonly spans: readonly OtlpSpan[],
  ) {
    super();
  }
}

@CommandHandler(IngestOtlpTracesCommand)
export class IngestOtlpTracesHandler implements ICommandHandler<IngestOtlpTracesCommand, void> {
  constructor(
    private readonly commands: CommandBus,
    private readonly traces: TracesRepository,
  ) {}

  async execute({ tenantId, spans }: IngestOtlpTracesCommand): Promise<void> {
    if (spans.length === 0) return;
    const normalized = spans.map(normalizeSpan);
    const orphanTraces = [...new Set(normalized.filter((n) => n.sessionId === null).map((n) => n.event.traceId!))];
    const known = await this.traces.knownSessions(tenantId, orphanTraces);
    const sessions = resolveSpanSessions(normalized, known);
    const events: StreamEvent[] = normalized.map((n, i) => ({ tenantId, sessionId: sessions[i]!, event: n.event }));
    await this.commands.execute(new AppendEventsCommand(events));
  }
}
