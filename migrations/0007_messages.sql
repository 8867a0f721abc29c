-- Read model of conversation memory (POST/GET /messages, /conversations, /memory-status), maintained
-- by MessagesProjector from `message.added` and `messages.deleted` events and rebuilt from the log by
-- `ark-broker projections rebuild`.

-- One row per stored message that no deletion covers. `global_position` is the event's, and the
-- upstream `sequence` of the message.
CREATE TABLE messages (
  tenant_id        text        NOT NULL,
  global_position  bigint      NOT NULL,
  session_id       text        NOT NULL,  -- the session its event went to
  conversation_id  text        NOT NULL,
  query_id         text        NOT NULL,  -- as posted (Ark posts the query's name)
  user_id          text,
  message          jsonb       NOT NULL,
  recorded_at      timestamptz NOT NULL,  -- the upstream `timestamp`: when the broker received it
  expires_at       timestamptz,           -- from `ttl_seconds`; expired rows are invisible
  PRIMARY KEY (tenant_id, global_position)
);

CREATE INDEX messages_conversation ON messages (tenant_id, conversation_id, global_position);
CREATE INDEX messages_query ON messages (tenant_id, query_id, global_position);

-- Every deletion ever made, so a deletion covers the messages before it (lower position) whatever
-- order their transactions commit or replay in. Null scope columns match everything.
CREATE TABLE message_tombstones (
  tenant_id        text   NOT NULL,
  global_position  bigint NOT NULL,
  conversation_id  text,
  query_id         text,
  PRIMARY KEY (tenant_id, global_position)
);

-- POST /messages finds the session that owns a query by the name Ark posts as `query_id`, through
-- the query's operation events (as upstream, whose sessions store is fed by them). Partial: only
-- operation events pay for it, not spans or chunks.
CREATE INDEX events_operation_query_name ON events (tenant_id, query_name, global_position)
  WHERE source = 'operation-event' AND query_name IS NOT NULL;
