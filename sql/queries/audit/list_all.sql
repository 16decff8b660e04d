-- audit/list_all: a page of every audit event, newest first (keyset: the events before @before_id).
-- Parameters: @before_id bigint, @limit integer
-- Index: audit_events_pkey, read backwards from @before_id; stops after @limit entries.
-- Plan cache: the inner LIMIT 101 is the largest page (AuditListQuery.MaxLimit, 100) plus one. With it the
-- generic plan knows the page is small and costs what a custom plan costs, so PostgreSQL keeps it;
-- with @limit alone it guesses 10% of the events and plans the statement again on every call.
SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes
FROM (SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes
      FROM audit_events
      WHERE id < @before_id
      ORDER BY id DESC
      LIMIT 101) capped
ORDER BY id DESC
LIMIT @limit
