-- keys/get_by_id: one key of one user.
-- Parameters: @user_id bigint, @id bigint
-- Index: api_keys_user_id_idx (user_id, id): both columns are in the condition (api_keys_pkey would serve too).
SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, scopes
FROM api_keys
WHERE id = @id AND user_id = @user_id
