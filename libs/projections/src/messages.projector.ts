import { sql, type Transaction } from 'kysely';
import type { Database } from '#ark/database';
import { NEVER_EXPIRES, type ArkEvent, type InlineProjector } from '#ark/event-store';
import { readMessageAdded, readMessagesDeleted, type MessageAddedData, type MessagesDeletedData } from '#ark/normalizer';

/** A conversation's messages of a query, and the query: which session they belong in may be known now. */
interface Claim {
  tenantId: string;
  conversationId: string;
  queryName: string;
}

/** The conversation and query an operation event names (Ark's `data.conversationId`, `data.queryName`). */
function claimOf(event: ArkEvent): Claim | undefined {
  if (event.source !== 'operation-event' || !event.queryName) return undefined;
  const body = (event.data as { operationEvent?: { data?: { conversationId?: unknown } } } | null)?.operationEvent;
  const conversationId = body?.data?.conversationId;
  if (typeof conversationId !== 'string' || conversationId === '' || conversationId === event.sessionId) return undefined;
  return { tenantId: event.tenantId, conversationId, queryName: event.queryName };
}

/**
 * `messages` (conversation memory) and `message_tombstones`. A message is in the table unless a
 * tombstone with a higher global position names it; both sides check the other (a deletion deletes
 * the rows before it, a message is not inserted when a later deletion is already known), so the
 * result depends neither on the order of events in a batch nor on the order transactions commit in,
 * and a replay of the log gives the same table.
 *
 * A message posted before any other source named its query is stored in its conversation's session
 * (the log keeps it there). Its row moves to the query's session once the query's operation events
 * name that session and the conversation (`session_queries`, projected before this in every batch):
 * at that event, or at the message when the query was known by then. Both are decided in log order,
 * so a replay moves the same rows.
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
    const claims = [
      ...added
        .filter((a) => a.message.conversationId !== '' && a.event.sessionId === a.message.conversationId)
        .map((a) => ({
          tenantId: a.event.tenantId,
          conversationId: a.message.conversationId,
          queryName: a.message.queryId,
        })),
      ...events.flatMap((e) => claimOf(e) ?? []),
    ];
    if (claims.length > 0) await this.moveToQuerySessions(trx, claims);
  }

  /**
   * Moves the claimed messages still in their conversation's session (where they went while their
   * query was unknown) to the session of the query of that conversation and name, when
   * session_queries knows one (the lowest session id if several do).
   */
  private async moveToQuerySessions(trx: Transaction<Database>, claims: Claim[]): Promise<void> {
    const unique = [...new Map(claims.map((c) => [`${c.tenantId}\u0000${c.conversationId}\u0000${c.queryName}`, c])).values()];
    await sql`
      UPDATE messages m SET session_id = q.session_id
      FROM (SELECT DISTINCT ON (k.t, k.conv, k.name) k.t, k.conv, k.name, sq.session_id
            FROM unnest(${unique.map((c) => c.tenantId)}::text[], ${unique.map((c) => c.conversationId)}::text[], ${unique.map((c) => c.queryName)}::text[])
                 AS k(t, conv, name)
            JOIN session_queries sq ON sq.tenant_id = k.t AND sq.conversation_id = k.conv AND sq.query_name = k.name AND sq.session_id <> k.conv
            ORDER BY k.t, k.conv, k.name, sq.session_id) q
      WHERE m.tenant_id = q.t AND m.conversation_id = q.conv AND m.query_id = q.name AND m.session_id = q.conv`.execute(trx);
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
    const texts = col((a) => JSON.stringify(a.message.message ?? null));
    await sql`
      INSERT INTO messages (tenant_id, global_position, session_id, conversation_id, query_id, user_id, message, recorded_at, expires_at, message_bytes)
      SELECT a.* FROM unnest(
        ${col((a) => a.event.tenantId)}::text[], ${col((a) => a.event.globalPosition)}::bigint[],
        ${col((a) => a.event.sessionId)}::text[], ${col((a) => a.message.conversationId)}::text[],
        ${col((a) => a.message.queryId)}::text[], ${col((a) => a.event.userId)}::text[],
        ${texts}::jsonb[], ${col((a) => a.event.recordedAt.toISOString())}::timestamptz[],
        ${col((a) => (a.event.expiresAt >= NEVER_EXPIRES ? 'infinity' : a.event.expiresAt.toISOString()))}::timestamptz[],
        ${texts.map((t) => Buffer.byteLength(t))}::int[])
        AS a(tenant_id, global_position, session_id, conversation_id, query_id, user_id, message, recorded_at, expires_at, message_bytes)
      WHERE NOT EXISTS (
        SELECT 1 FROM message_tombstones d
        WHERE d.tenant_id = a.tenant_id AND d.global_position > a.global_position
          AND (d.conversation_id IS NULL OR d.conversation_id = a.conversation_id)
          AND (d.query_id IS NULL OR d.query_id = a.query_id))`.execute(trx);
  }
}
