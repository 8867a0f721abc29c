-- Read model: one row per session, maintained by SessionsProjector inside the append transaction
-- and rebuilt from the log by `ark-broker projections rebuild`.
CREATE TABLE sessions (
  tenant_id         text        NOT NULL,
  session_id        text        NOT NULL,
  user_id           text,
  first_activity_at timestamptz NOT NULL,
  last_activity_at  timestamptz NOT NULL,
  event_count       bigint      NOT NULL,
  last_sequence     bigint      NOT NULL,
  PRIMARY KEY (tenant_id, session_id)
);

CREATE INDEX sessions_recent ON sessions (tenant_id, last_activity_at DESC, session_id);
