-- keys/list_by_user: every key of one user, oldest first.
-- Parameters: @user_id bigint
-- Index: api_keys_user_id_idx
SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at
FROM api_keys
WHERE user_id = @user_id
ORDER BY id
