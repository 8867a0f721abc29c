-- `DELETE /stream` (upstream: purge every stored chunk). The event log is append-only, so a purge is
-- a per-tenant watermark instead: the upstream chunk views (`GET /stream`, `GET /stream/:query`
-- replay, `POST /stream/:query/complete`) only see chunk events above `purged_through` (a global
-- position). The events themselves stay in the log and in every native (/v2) view.
CREATE TABLE chunk_stream_purges (
  tenant_id      text        PRIMARY KEY,
  purged_through bigint      NOT NULL,
  purged_at      timestamptz NOT NULL DEFAULT now()
);
