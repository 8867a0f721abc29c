-- Read model of raw OTLP spans (GET /traces), maintained by SpansProjector from `otlp` events.
-- One row per (trace, span): the end of a span replaces its start, never the other way round.
CREATE TABLE spans (
  tenant_id             text    NOT NULL,
  trace_id              text    NOT NULL,
  span_id               text    NOT NULL,
  parent_span_id        text,
  session_id            text    NOT NULL,  -- the session its ark events went to
  ark_session_id        text,              -- the span's own `ark.session.id` (upstream's session filter)
  name                  text    NOT NULL,
  kind                  integer NOT NULL,
  start_time_unix_nano  text,
  end_time_unix_nano    text,
  status_code           integer NOT NULL,
  status_message        text,
  attributes            jsonb   NOT NULL,
  resource              jsonb   NOT NULL,
  scope                 jsonb,
  span_events           jsonb   NOT NULL,
  links                 jsonb   NOT NULL,
  first_position        bigint  NOT NULL,  -- global position of the first event of this span
  PRIMARY KEY (tenant_id, trace_id, span_id)
);

CREATE INDEX spans_recent ON spans (tenant_id, first_position);
CREATE INDEX spans_ark_session ON spans (tenant_id, ark_session_id, first_position) WHERE ark_session_id IS NOT NULL;
CREATE INDEX spans_session ON spans (tenant_id, session_id);
