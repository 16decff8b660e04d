-- audit/list_by_key: a page of the events about one key, newest first (keyset: before @before_id), optionally
-- of one user (a key has one user: a different one gives an empty page) and one action.
-- Parameters: @key_id bigint, @user_id bigint (null: any), @action text (null: every action), @before_id bigint,
--             @limit integer
-- Index: audit_events_key_id_idx (key_id, id), read backwards from (@key_id, @before_id).
SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes
FROM audit_events
WHERE key_id = @key_id
  AND id < @before_id
  AND (@user_id::bigint IS NULL OR user_id = @user_id::bigint)
  AND (@action::text IS NULL OR action = @action::text)
ORDER BY id DESC
LIMIT @limit
