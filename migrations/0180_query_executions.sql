-- Off-controller query execution (docs/executors.md, DESIGN §11): the broker is the durable work
-- queue executors claim queries from. `query_executions` is the queue (one row per submitted query,
-- its phase, lease and fencing attempt); `query_transitions` is each row's history and the outbox of
-- the ark events its transitions become (appended through the one append port right after the
-- transition commits; `published` false: a sweeper appends it again, the dedupe key makes that safe);
-- `query_executors` the executors seen (GET /v2/executors).
CREATE TABLE query_executions (
  tenant_id          text        NOT NULL,
  -- The Query UID: the idempotency key of a submit.
  query_id           text        NOT NULL,
  name               text        NOT NULL,
  namespace          text        NOT NULL,
  session_id         text        NOT NULL,
  -- The submitter's user id: the session's owner (readers see the queries of the sessions they own).
  user_id            text,
  target             jsonb       NOT NULL,
  input              jsonb       NOT NULL,
  -- The submitted body with defaults filled in: the same body again is answered 200, another 409.
  request            jsonb       NOT NULL,
  phase              text        NOT NULL DEFAULT 'pending' CHECK (phase IN ('pending', 'assigned', 'running', 'done', 'error', 'canceled')),
  -- Why it ended: ExecutorLost, Expired, Canceled, or the executor's error reason.
  reason             text,
  reassign           text        NOT NULL CHECK (reassign IN ('auto', 'never')),
  max_attempts       integer     NOT NULL CHECK (max_attempts > 0),
  -- Claims so far: the fencing token of phase reports and heartbeats.
  attempt            integer     NOT NULL DEFAULT 0,
  assigned_executor  text,
  assigned_at        timestamptz,
  lease_expires_at   timestamptz,
  -- The lease the executor claimed with: each heartbeat extends the lease by this long.
  lease_seconds      integer,
  cancel_requested   boolean     NOT NULL DEFAULT false,
  -- A query still pending at this time is canceled with reason Expired (ttlSeconds); null: never.
  ttl_expires_at     timestamptz,
  response           jsonb,
  error              jsonb,
  submitted_at       timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz,
  PRIMARY KEY (tenant_id, query_id)
);

-- Claims: the oldest pending queries of a tenant's namespaces.
CREATE INDEX query_executions_pending ON query_executions (tenant_id, namespace, submitted_at) WHERE phase = 'pending';
-- The sweeper: leases that ran out, pending queries past their TTL.
CREATE INDEX query_executions_leases ON query_executions (lease_expires_at) WHERE phase IN ('assigned', 'running');
CREATE INDEX query_executions_ttl ON query_executions (ttl_expires_at) WHERE phase = 'pending' AND ttl_expires_at IS NOT NULL;
-- GET /v2/queries: newest first, by phase and namespace.
CREATE INDEX query_executions_listing ON query_executions (tenant_id, submitted_at DESC, query_id DESC);
-- GET /v2/executors: the queries each holds.
CREATE INDEX query_executions_executor ON query_executions (tenant_id, assigned_executor) WHERE phase IN ('assigned', 'running');

CREATE TABLE query_transitions (
  position    bigint      GENERATED ALWAYS AS IDENTITY,
  tenant_id   text        NOT NULL,
  query_id    text        NOT NULL,
  -- The ark event type it becomes (docs/events.md#54-query-execution-events).
  type        text        NOT NULL,
  attempt     integer     NOT NULL,
  at          timestamptz NOT NULL DEFAULT now(),
  data        jsonb       NOT NULL,
  published   boolean     NOT NULL DEFAULT false,
  -- With the tenant, as every key of a tenant's table (docs/scaling.md).
  PRIMARY KEY (tenant_id, position),
  FOREIGN KEY (tenant_id, query_id) REFERENCES query_executions (tenant_id, query_id) ON DELETE CASCADE
);
CREATE INDEX query_transitions_query ON query_transitions (tenant_id, query_id, position);
CREATE INDEX query_transitions_unpublished ON query_transitions (at) WHERE NOT published;

CREATE TABLE query_executors (
  tenant_id     text        NOT NULL,
  executor_id   text        NOT NULL,
  -- The namespaces it serves (its credentials' binding, or what it asked for); null: every namespace.
  namespaces    text[],
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, executor_id)
);

ALTER TABLE query_executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON query_executions USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
ALTER TABLE query_transitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON query_transitions USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
ALTER TABLE query_executors ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON query_executors USING ((tenant_id || '') = ANY ((SELECT ark_tenant_ids())::text[]));
