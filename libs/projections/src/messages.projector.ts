import { sql, type Transaction } from 'kysely';
import type { Database } from '#ark/database';
import { NEVER_EXPIRES, type ArkEvent, type InlineProjector } from '#ark/event-store';
import { readMessageAdded, readMessagesDeleted, type MessageAddedData, type MessagesDeletedData } from '#ark/normalizer';

/**
 * `messages` (conversation memory) and `message_tombstones`. A message is in the table unless a
 * tombstone with a higher global position names it; both sides check the other (a deletion deletes
 * the rows before it, a message is not inserted when a later deletion is already known), so the
 * result depends neither on the order of events in a batch nor on the order transactions commit in,
 * and a replay of the log gives the same table.
 */
export class MessagesProjector implements InlineProjector {
  readonly name = 'messages';
  readonly tables = ['message_tombstones', 'messages'];

  async project(trx: Transaction<Database>, events: readonly ArkEvent[]): Promise<void> {
    const added: { event: ArkEvent; message: MessageAddedData }[] = [];
    const deletions: { event: ArkEvent; scope: MessagesDeletedData }[] = [];
    for (const event of events) {
      const message = readMessageAdded(event);
      if (message) {
        added.push({ event, message });
        continue;
      }
      const scope = readMessagesDeleted(event);
      if (scope) deletions.push({ event, scope });
    }
    if (deletions.length > 0) {
      // Two transactions that cannot see each other must not pass each other: a message inserted while
      // a concurrent deletion runs would survive it live but not in a replay. Deletions take a lock
      // that waits for every transaction inserting messages to commit (and holds new ones off), so each
      // side's next statement sees the other's rows. Deletions are rare; the lock spans all tenants.
      await sql`LOCK TABLE message_tombstones IN SHARE ROW EXCLUSIVE MODE`.execute(trx);
      await this.applyDeletions(trx, deletions);
    } else if (added.length > 0) {
      // Inserters share this mode with each other and conflict only with a deletion's.
      await sql`LOCK TABLE message_tombstones IN ROW EXCLUSIVE MODE`.execute(trx);
    }
    if (added.length > 0) await this.insertMessages(trx, added);
  }

  private async applyDeletions(trx: Transaction<Database>, deletions: { event: ArkEvent; scope: MessagesDeletedData }[]): Promise<void> {
    const tombstones = sql`unnest(${deletions.map((d) => d.event.tenantId)}::text[], ${deletions.map((d) => d.event.globalPosition)}::bigint[],
                                  ${deletions.map((d) => d.scope.conversationId ?? null)}::text[], ${deletions.map((d) => d.scope.queryId ?? null)}::text[])`;
    await sql`
      INSERT INTO message_tombstones (tenant_id, global_position, conversation_id, query_id)
      SELECT * FROM ${tombstones}`.execute(trx);
    await sql`
      DELETE FROM messages m USING ${tombstones} AS d(tenant_id, global_position, conversation_id, query_id)
      WHERE m.tenant_id = d.tenant_id AND m.global_position < d.global_position
        AND (d.conversation_id IS NULL OR m.conversation_id = d.conversation_id)
        AND (d.query_id IS NULL OR m.query_id = d.query_id)`.execute(trx);
  }

  private async insertMessages(trx: Transaction<Database>, added: { event: ArkEvent; message: MessageAddedData }[]): Promise<void> {
    const col = <T>(pick: (a: { event: ArkEvent; message: MessageAddedData }) => T) => added.map(pick);
    await sql`
      INSERT INTO messages (tenant_id, global_position, session_id, conversation_id, query_id, user_id, message, recorded_at, expires_at)
      SELECT a.* FROM unnest(
        ${col((a) => a.event.tenantId)}::text[], ${col((a) => a.event.globalPosition)}::bigint[],
        ${col((a) => a.event.sessionId)}::text[], ${col((a) => a.message.conversationId)}::text[],
        ${col((a) => a.message.queryId)}::text[], ${col((a) => a.event.userId)}::text[],
        ${col((a) => JSON.stringify(a.message.message ?? null))}::jsonb[], ${col((a) => a.event.recordedAt.toISOString())}::timestamptz[],
        ${col((a) => (a.event.expiresAt >= NEVER_EXPIRES ? 'infinity' : a.event.expiresAt.toISOString()))}::timestamptz[])
        AS a(tenant_id, global_position, session_id, conversation_id, query_id, user_id, message, recorded_at, expires_at)
      WHERE NOT EXISTS (
        SELECT 1 FROM message_tombstones d
        WHERE d.tenant_id = a.tenant_id AND d.global_position > a.global_position
          AND (d.conversation_id IS NULL OR d.conversation_id = a.conversation_id)
          AND (d.query_id IS NULL OR d.query_id = a.query_id))`.execute(trx);
  }
}
