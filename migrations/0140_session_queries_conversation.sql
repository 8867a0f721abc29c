-- Messages posted before any other source named their query land in their conversation's session;
-- when the query's operation events later name its session and conversation, MessagesProjector moves
-- them to that session (docs/read-models.md). It finds the query by conversation and name.
CREATE INDEX session_queries_conversation ON session_queries (tenant_id, conversation_id, query_name) WHERE conversation_id IS NOT NULL;
