-- audit/list_by_action: a page of the events of one action, newest first (keyset: before @before_id).
-- Parameters: @action text, @before_id bigint, @limit integer
-- Index: audit_events_action_idx (action, id), read backwards from (@action, @before_id).
SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, changes
FROM audit_events
WHERE action = @action
  AND id < @before_id
ORDER BY id DESC
LIMIT @limit
