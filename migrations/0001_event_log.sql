-- The event log (docs/architecture.md#event-log): one append-only table of ark events plus a row per session stream.

-- One row per (tenant, session): the last sequence handed out. Appenders hold a transaction-scoped
-- advisory lock on the session while they read and advance it, so sequences are contiguous.
CREATE TABLE event_streams (
  tenant_id     text        NOT NULL,
  session_id    text        NOT NULL,
  last_sequence bigint      NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, session_id)
);

CREATE TABLE events (
  tenant_id       text        NOT NULL,
  session_id      text        NOT NULL,
  sequence        bigint      NOT NULL CHECK (sequence > 0),
  -- Unique and increasing in allocation order, but NOT gap-free nor commit-ordered by itself:
  -- the tenant feed orders by (transaction_id, global_position) and reads only below the
  -- oldest running transaction (pg_snapshot_xmin), which makes it gap-free.
  global_position bigint      GENERATED ALWAYS AS IDENTITY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  type            text        NOT NULL,
  time            timestamptz NOT NULL,
  recorded_at     timestamptz NOT NULL DEFAULT now(),
  query_id        text,
  query_name      text,
  namespace       text,
  user_id         text,
  trace_id        text,
  span_id         text,
  parent_span_id  text,
  source          text        NOT NULL CHECK (source IN ('otlp', 'operation-event', 'chunk', 'message', 'api')),
  dedupe_key      text,
  data            jsonb       NOT NULL,
  PRIMARY KEY (tenant_id, session_id, sequence)
);

-- A redelivered span or event (same dedupe key in the same session) is a no-op.
CREATE UNIQUE INDEX events_dedupe_key ON events (tenant_id, session_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- The tenant feed: WHERE tenant_id = $1 AND (transaction_id, global_position) > ($2, $3).
CREATE INDEX events_tenant_feed ON events (tenant_id, transaction_id, global_position);
CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_query ON events (tenant_id, query_id) WHERE query_id IS NOT NULL;
CREATE INDEX events_trace ON events (tenant_id, trace_id) WHERE trace_id IS NOT NULL;
