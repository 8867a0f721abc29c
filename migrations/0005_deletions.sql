-- Deletions of collections that are read straight from the log (upstream DELETE /events…). The log
-- keeps its rows (sequences stay gap-free); a tombstone event hides everything before it that its
-- scope matches. Maintained by DeletionsProjector, so a rebuild gives the same result.
CREATE TABLE deletions (
  tenant_id       text   NOT NULL,
  scope           text   NOT NULL,  -- the collection, e.g. 'operation-events'
  query_id        text,             -- NULL: the whole collection
  up_to_position  bigint NOT NULL,  -- global position of the tombstone
  PRIMARY KEY (tenant_id, scope, up_to_position)
);
CREATE INDEX deletions_query ON deletions (tenant_id, scope, query_id);
