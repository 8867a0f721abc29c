-- One round trip for the log part of an append (docs/architecture.md#event-log): lock the batch's sessions, read their
-- heads and the dedupe keys already stored, hand out sequences, insert the events and their dedupe
-- keys, advance the streams and queue the transaction's one NOTIFY.
--
-- `batch` is a JSON array of rows {i, t, s, y, at, q, qn, ns, u, tr, sp, ps, src, dk, d}: i the
-- row's index in the call (sequences are handed out in i order), t/s tenant and session, y type, at
-- producer time (null: now()), q/qn query id and name, ns namespace, u user, tr/sp/ps trace, span and
-- parent span ids, src source, dk dedupe key, d data, ex seconds the row stays visible (null: for ever)
-- (libs/event-store/src/event-row.ts writes it).
-- One result row per input row, in i order: the sequence (for a duplicate: the stored or earlier
-- copy's), whether it was a duplicate, and for new rows their global position; and, the same on
-- every row, the transaction id (null when nothing was new, so a retried batch takes no transaction
-- id) and recorded_at (now()). A new row's time is `at`, else recorded_at.
--
-- SECURITY INVOKER (the default, stated): it runs with the caller's rights, so row-level security
-- and the caller's role apply to every statement in it as they would to the statements themselves.
CREATE OR REPLACE FUNCTION ark_append_events(batch jsonb)
RETURNS TABLE (i int, sequence bigint, duplicate boolean, global_position bigint, transaction_id text, recorded_at timestamptz)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER
AS $$
#variable_conflict use_column
DECLARE
  -- Per input row, at index i + 1: the sequence of its dedupe key already in the session (or null).
  stored_sequences bigint[];
  -- Per input row, at index i + 1: its sequence and whether it is a duplicate.
  sequences bigint[];
  duplicates boolean[];
  -- The sequences of the new rows in i order, and what the insert answered for them.
  new_sequences bigint[];
  inserted_sequences bigint[];
  positions bigint[];
  heads json;
  queries json;
  tenants json;
  tx text;
  at_ms bigint;
BEGIN
  -- Serialise appenders per session until commit. Keys are locked in one global order (ascending,
  -- sorted in the subquery) so two batches sharing sessions cannot deadlock; a hash collision only
  -- makes two sessions queue behind each other.
  PERFORM pg_advisory_xact_lock(k.key)
  FROM (SELECT DISTINCT hashtextextended(b.t || '/' || b.s, 0) AS key
        FROM jsonb_to_recordset(batch) AS b(t text, s text)
        ORDER BY key) AS k;

  -- New statements after the locks: a VOLATILE function takes a fresh snapshot per statement, so
  -- under READ COMMITTED these see the commit of whichever appender held a lock before us, and the
  -- dedupe keys and heads they read are current. Only the narrow columns are read here.
  -- The dedupe probe is one primary-key probe of `event_dedupe_keys` per row that has a key: that
  -- table, not `events`, holds the keys (0251), so a key is found whichever partition holds
  -- its event, and its only b-tree is the key, so a plan cached on an empty table stays a probe.
  SELECT array_agg(CASE WHEN b.dk IS NOT NULL THEN
                     (SELECT k.sequence FROM event_dedupe_keys k
                      WHERE k.tenant_id = b.t AND k.session_id = b.s AND k.dedupe_key = b.dk)
                   END ORDER BY b.i)
  INTO stored_sequences
  FROM jsonb_to_recordset(batch) AS b(i int, t text, s text, dk text);

  WITH b AS (
    SELECT * FROM jsonb_to_recordset(batch) AS x(i int, t text, s text, dk text)
  ), ranked AS (
    -- `stored`: the sequence of the same dedupe key already in the session; `copy` > 1: a repeat of
    -- a key earlier in this batch. The head lookup is a correlated subquery: one primary-key probe
    -- per row, never a join planned from a guess about the batch's size.
    SELECT b.*,
           stored_sequences[b.i + 1] AS stored,
           CASE WHEN b.dk IS NULL THEN 1 ELSE row_number() OVER (PARTITION BY b.t, b.s, b.dk ORDER BY b.i) END AS copy
    FROM b
  ), fresh AS (
    SELECT r.i, r.t, r.s, r.dk,
           coalesce((SELECT h.last_sequence FROM event_streams h WHERE h.tenant_id = r.t AND h.session_id = r.s), 0)
             + row_number() OVER (PARTITION BY r.t, r.s ORDER BY r.i) AS n
    FROM ranked r
    WHERE r.stored IS NULL AND r.copy = 1
  ), answered AS (
    SELECT r.i, coalesce(r.stored, own.n, earlier.n) AS n, own.i IS NULL AS duplicate
    FROM ranked r
    LEFT JOIN fresh own ON own.i = r.i
    LEFT JOIN fresh earlier ON r.copy > 1 AND r.stored IS NULL AND earlier.t = r.t AND earlier.s = r.s AND earlier.dk = r.dk
  )
  SELECT array_agg(a.n ORDER BY a.i), array_agg(a.duplicate ORDER BY a.i),
         array_agg(a.n ORDER BY a.i) FILTER (WHERE NOT a.duplicate)
  INTO sequences, duplicates, new_sequences
  FROM answered a;

  IF new_sequences IS NOT NULL THEN
    -- The rows are read from `batch` in one pass, in i order, so global positions follow sequences
    -- within a session. RETURNING yields them in the order they were inserted; checked against the
    -- sequences handed out, since a mismatch would be silent.
    WITH inserted AS (
      INSERT INTO events (tenant_id, session_id, sequence, type, time, query_id, query_name, namespace, user_id,
                          trace_id, span_id, parent_span_id, source, dedupe_key, data, expires_at)
      SELECT x.t, x.s, sequences[x.i + 1], x.y, coalesce(x.at, now()), x.q, x.qn, x.ns, x.u, x.tr, x.sp, x.ps, x.src, x.dk, x.d, coalesce(x.ex * interval '1 second' + now(), 'infinity')
      FROM jsonb_to_recordset(batch) AS x(i int, t text, s text, y text, at timestamptz, q text, qn text, ns text,
                                          u text, tr text, sp text, ps text, src text, dk text, d jsonb, ex double precision)
      WHERE NOT duplicates[x.i + 1]
      ORDER BY x.i
      RETURNING events.tenant_id, events.session_id, events.sequence, events.query_id, events.query_name, events.source, events.global_position,
                events.dedupe_key, events.expires_at
    ), keyed AS (
      -- The keys of the new rows, in the same statement (a primary-key violation here is the
      -- backstop: the session lock already keeps two appends of one key apart).
      INSERT INTO event_dedupe_keys (tenant_id, session_id, dedupe_key, sequence, recorded_at, expires_at)
      SELECT x.tenant_id, x.session_id, x.dedupe_key, x.sequence, now(), x.expires_at FROM inserted x WHERE x.dedupe_key IS NOT NULL
    ), last AS (
      SELECT x.tenant_id AS t, x.session_id AS s, max(x.sequence) AS n FROM inserted x GROUP BY x.tenant_id, x.session_id
    ), advanced AS (
      INSERT INTO event_streams (tenant_id, session_id, last_sequence)
      SELECT l.t, l.s, l.n FROM last l
      ON CONFLICT (tenant_id, session_id) DO UPDATE SET last_sequence = excluded.last_sequence, updated_at = now()
    )
    SELECT (SELECT array_agg(x.sequence) FROM inserted x), (SELECT array_agg(x.global_position) FROM inserted x),
           (SELECT json_agg(json_build_array(l.t, l.s, l.n)) FROM last l),
           -- The queries written: by id, and chunks also by the upload path's query (their query_name).
           (SELECT coalesce(json_agg(json_build_array(q.tenant_id, q.id)), '[]')
            FROM (SELECT x.tenant_id, x.query_id AS id FROM inserted x WHERE x.query_id IS NOT NULL
                  UNION
                  SELECT x.tenant_id, x.query_name FROM inserted x WHERE x.source = 'chunk' AND x.query_name IS NOT NULL) q),
           (SELECT json_agg(DISTINCT l.t) FROM last l)
    INTO inserted_sequences, positions, heads, queries, tenants;
    IF inserted_sequences IS DISTINCT FROM new_sequences THEN
      RAISE EXCEPTION 'ark_append_events: INSERT ... RETURNING came back out of input order';
    END IF;

    -- The wake-up (AppendNotification), delivered on commit: the most precise form that fits in a
    -- NOTIFY (PostgreSQL refuses 8000 bytes or more). Never event data.
    tx := pg_current_xact_id()::text;
    -- Feed reads bound recorded_at from below (EventLogRepository.readFeed) on the promise that an
    -- appending transaction got its xid, assigned by the INSERT above, at most 5 minutes after it
    -- started (its recorded_at, now()). The broker's appends take milliseconds; a transaction that
    -- lasted longer is refused rather than let its rows fall below a reader's bound. A test makes
    -- the limit shorter with `ark.append_max_interval`; never longer.
    IF clock_timestamp() - now() > least(interval '5 minutes', coalesce(nullif(current_setting('ark.append_max_interval', true), '')::interval, interval '5 minutes')) THEN
      RAISE EXCEPTION 'ark_append_events: the transaction started % ago, more than the 5 minutes an append may take (docs/architecture.md#time-partitioned-log)',
        date_trunc('second', clock_timestamp() - now());
    END IF;
    -- `at`: when this was queued (ms since the epoch, the server's clock), for the notification-lag metric.
    at_ms := (extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    PERFORM pg_notify('ark_events', CASE
              WHEN octet_length(json_build_object('tx', tx, 'at', at_ms, 's', heads, 'q', queries)::text) <= 7500
                THEN json_build_object('tx', tx, 'at', at_ms, 's', heads, 'q', queries)::text
              WHEN octet_length(json_build_object('tx', tx, 'at', at_ms, 's', heads)::text) <= 7500
                THEN json_build_object('tx', tx, 'at', at_ms, 's', heads)::text
              WHEN octet_length(json_build_object('tx', tx, 'at', at_ms, 't', tenants)::text) <= 7500
                THEN json_build_object('tx', tx, 'at', at_ms, 't', tenants)::text
              ELSE json_build_object('tx', tx, 'at', at_ms)::text END);
  END IF;

  -- The k-th new row (in i order) has the k-th position.
  RETURN QUERY
  SELECT (u.o - 1)::int, u.n, u.duplicate,
         CASE WHEN NOT u.duplicate THEN positions[count(*) FILTER (WHERE NOT u.duplicate) OVER (ORDER BY u.o)] END,
         tx, now()
  FROM unnest(sequences, duplicates) WITH ORDINALITY AS u(n, duplicate, o)
  ORDER BY u.o;
END
$$;
