-- audit/list_all: a page of every audit event, newest first (keyset: the events before @before_id).
-- Parameters: @before_id bigint, @limit integer
-- Index: audit_events_pkey, read backwards from @before_id; stops after @limit entries.
SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, changes
FROM audit_events
WHERE id < @before_id
ORDER BY id DESC
LIMIT @limit
