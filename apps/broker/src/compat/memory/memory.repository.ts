import { Injectable } from '@nestjs/common';
import { sql } from 'kysely';
import { DatabaseConnection, EXAMPLE_ADMIN, EXAMPLE_READER, GenerateSql, inScope, sessionVisible, type ReadScope } from '#ark/database';
import type { FeedCursor } from '#ark/event-store';
import type { MessagesDeletedData } from '#ark/normalizer';

/** A row of the `messages` read model, as the routes need it. */
export interface MessageRow {
  global_position: number;
  conversation_id: string;
  query_id: string;
  message: unknown;
  recorded_at: Date;
}

export interface MessageFilter {
  conversationId?: string;
  queryId?: string;
}

/** The session a query's own events went to, with their correlation columns. */
export interface QueryOwner {
  sessionId: string;
  queryId: string | null;
  queryName: string | null;
  namespace: string | null;
}

export interface ConversationStats {
  conversationId: string;
  messageCount: number;
  queryCount: number;
}

export interface Tombstone {
  globalPosition: number;
  scope: MessagesDeletedData;
}

const MESSAGE_COLUMNS = sql`global_position, conversation_id, query_id, message, recorded_at`;
/** Rows past their `ttl_seconds` stay until a deletion but are never shown. */
const VISIBLE = sql`(expires_at IS NULL OR expires_at > now())`;

/** SQL of the memory routes: the `messages` read model, plus the few log lookups POST and watch need. */
@Injectable()
export class MemoryRepository {
  constructor(private readonly connection: DatabaseConnection) {}

  /**
   * The session of the latest event of the query that is not itself a message. Ark posts the query's
   * name as `query_id`: that matches operation events' `query_name` (upstream finds sessions the same
   * way) and the `queries` read model's (which knows a query its spans named before any operation
   * event) and chunks' `query_name` (the upload path's query: chunks may come first); a producer
   * posting the query UID matches `query_id` of any event. Each is an index scan that stops at the
   * first row.
   */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 'q'] })
  async findQueryOwner(scope: ReadScope, query: string): Promise<QueryOwner | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ session_id: string; query_id: string | null; query_name: string | null; namespace: string | null }>`
        SELECT session_id, query_id, query_name, namespace FROM (
          (SELECT session_id, query_id, query_name, namespace, global_position FROM events
           WHERE tenant_id = ${scope.tenantId} AND source = 'operation-event' AND query_name = ${query}
           ORDER BY global_position DESC LIMIT 1)
          UNION ALL
          (SELECT session_id, query_id, query_name, namespace, global_position FROM events
           WHERE tenant_id = ${scope.tenantId} AND query_id = ${query} AND source <> 'message'
           ORDER BY transaction_id DESC, global_position DESC LIMIT 1)
          UNION ALL
          (SELECT session_id, query_id, query_name, namespace, global_position FROM events
           WHERE tenant_id = ${scope.tenantId} AND query_name = ${query} AND source = 'chunk'
           ORDER BY global_position DESC LIMIT 1)
          UNION ALL
          (SELECT session_id, query_id, query_name, namespace, first_position FROM queries
           WHERE tenant_id = ${scope.tenantId} AND query_name = ${query}
           ORDER BY first_position DESC LIMIT 1)
        ) owners
        ORDER BY global_position DESC LIMIT 1`.execute(this.connection.db);
      const row = rows[0];
      return row && { sessionId: row.session_id, queryId: row.query_id, queryName: row.query_name, namespace: row.namespace };
    });
  }

  /** Whether the session already holds an event with this dedupe key (an earlier copy of a request). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 's', 'k'] })
  async sessionHolds(scope: ReadScope, sessionId: string, dedupeKey: string): Promise<boolean> {
    return inScope(scope, async () => {
      const { rows } = await sql`
        SELECT 1 FROM event_dedupe_keys
        WHERE tenant_id = ${scope.tenantId} AND session_id = ${sessionId} AND dedupe_key = ${dedupeKey}`.execute(this.connection.db);
      return rows.length > 0;
    });
  }

  /** Messages ascending by position (the upstream `sequence`), after `after`; one extra row tells `hasMore`. */
  @GenerateSql(
    { name: 'admin', params: [EXAMPLE_ADMIN, {}, 0, 100] },
    { name: 'reader, one conversation and query', params: [EXAMPLE_READER, { conversationId: 'c', queryId: 'q' }, 0, 100] },
  )
  async listMessages(scope: ReadScope, filter: MessageFilter, after: number, limit: number): Promise<{ rows: MessageRow[]; hasMore: boolean }> {
    return inScope(scope, async () => {
      const { rows } = await sql<MessageRow>`
        SELECT ${MESSAGE_COLUMNS} FROM messages
        WHERE tenant_id = ${scope.tenantId} AND ${sessionVisible(scope, 'messages')} ${matching(filter)} AND global_position > ${after} AND ${VISIBLE}
        ORDER BY global_position
        LIMIT ${limit + 1}`.execute(this.connection.db);
      return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
    });
  }

  /** All messages matching the filter, whatever the cursor (the upstream `total`). */
  @GenerateSql({ name: 'admin', params: [EXAMPLE_ADMIN, {}] }, { name: 'reader, one conversation', params: [EXAMPLE_READER, { conversationId: 'c' }] })
  async countMessages(scope: ReadScope, filter: MessageFilter): Promise<number> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ n: number }>`
        SELECT count(*) AS n FROM messages WHERE tenant_id = ${scope.tenantId} AND ${sessionVisible(scope, 'messages')} ${matching(filter)} AND ${VISIBLE}`.execute(
        this.connection.db,
      );
      return rows[0]?.n ?? 0;
    });
  }

  @GenerateSql({ params: [EXAMPLE_READER, 'c'] })
  async conversationMessages(scope: ReadScope, conversationId: string): Promise<MessageRow[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<MessageRow>`
        SELECT ${MESSAGE_COLUMNS} FROM messages
        WHERE tenant_id = ${scope.tenantId} AND ${sessionVisible(scope, 'messages')} AND conversation_id = ${conversationId} AND ${VISIBLE}
        ORDER BY global_position`.execute(this.connection.db);
      return rows;
    });
  }

  /** Conversation ids in first-seen order. */
  @GenerateSql({ params: [EXAMPLE_ADMIN] })
  async conversationIds(scope: ReadScope): Promise<string[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ conversation_id: string }>`
        SELECT conversation_id FROM messages WHERE tenant_id = ${scope.tenantId} AND ${sessionVisible(scope, 'messages')} AND ${VISIBLE}
        GROUP BY conversation_id ORDER BY min(global_position)`.execute(this.connection.db);
      return rows.map((r) => r.conversation_id);
    });
  }

  /** Per conversation, in first-seen order: its messages and distinct query ids. */
  @GenerateSql({ params: [EXAMPLE_READER] })
  async conversationStats(scope: ReadScope): Promise<ConversationStats[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ conversation_id: string; message_count: number; query_count: number }>`
        SELECT conversation_id, count(*) AS message_count, count(DISTINCT query_id) AS query_count
        FROM messages WHERE tenant_id = ${scope.tenantId} AND ${sessionVisible(scope, 'messages')} AND ${VISIBLE}
        GROUP BY conversation_id ORDER BY min(global_position)`.execute(this.connection.db);
      return rows.map((r) => ({ conversationId: r.conversation_id, messageCount: r.message_count, queryCount: r.query_count }));
    });
  }

  /** Feed position of the tenant's first memory event after a position (where a `?cursor=` replay begins). */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 0] })
  async firstMemoryEventAfter(scope: ReadScope, globalPosition: number): Promise<FeedCursor | undefined> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ tx: string; global_position: number }>`
        SELECT transaction_id::text AS tx, global_position FROM events
        WHERE tenant_id = ${scope.tenantId} AND source = 'message' AND global_position > ${globalPosition}
        ORDER BY global_position LIMIT 1`.execute(this.connection.db);
      const row = rows[0];
      return row && { transactionId: BigInt(row.tx), globalPosition: row.global_position };
    });
  }

  /** Deletions after a position: the ones that can cover messages a watch replays from there. */
  @GenerateSql({ params: [EXAMPLE_ADMIN, 0] })
  async tombstonesAfter(scope: ReadScope, globalPosition: number): Promise<Tombstone[]> {
    return inScope(scope, async () => {
      const { rows } = await sql<{ global_position: number; conversation_id: string | null; query_id: string | null }>`
        SELECT global_position, conversation_id, query_id FROM message_tombstones
        WHERE tenant_id = ${scope.tenantId} AND global_position > ${globalPosition}`.execute(this.connection.db);
      return rows.map((r) => ({
        globalPosition: r.global_position,
        scope: { ...(r.conversation_id === null ? {} : { conversationId: r.conversation_id }), ...(r.query_id === null ? {} : { queryId: r.query_id }) },
      }));
    });
  }
}

function matching(filter: MessageFilter) {
  return sql`${filter.conversationId === undefined ? sql`` : sql`AND conversation_id = ${filter.conversationId}`}
             ${filter.queryId === undefined ? sql`` : sql`AND query_id = ${filter.queryId}`}`;
}
