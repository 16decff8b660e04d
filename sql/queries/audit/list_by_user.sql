-- audit/list_by_user: a page of the events about one user and its keys, newest first (keyset: before @before_id),
-- optionally of one action. Also the events of a user deleted since: events reference no row.
-- Parameters: @user_id bigint, @action text (null: every action), @before_id bigint, @limit integer
-- Index: audit_events_user_id_idx (user_id, id), read backwards from (@user_id, @before_id).
SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes
FROM audit_events
WHERE user_id = @user_id
  AND id < @before_id
  AND (@action::text IS NULL OR action = @action::text)
ORDER BY id DESC
LIMIT @limit
