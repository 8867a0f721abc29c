-- A query submitted to the executors' queue (docs/executors.md) is a `queries` row from its
-- `query.submitted` event on, `pending` until an event of its work arrives (its executor's
-- `query.started`, a span, a call, an operation event). `queued`: every event folded into the row so
-- far was its submission; merged with AND, so the order of arrival does not matter. Rows written
-- before this column existed did work, so false; a query submitted before it and not yet started
-- gets its row when it starts, or from `ark-broker projections rebuild`.
ALTER TABLE queries ADD COLUMN queued boolean NOT NULL DEFAULT false;
