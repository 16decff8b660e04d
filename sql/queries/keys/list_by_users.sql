-- keys/list_by_users: the keys of many users in one statement (include=keys on a page of users).
-- Parameters: @user_ids bigint[]
-- Index: api_keys_user_id_idx (index condition user_id = ANY(...)).
SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, scopes
FROM api_keys
WHERE user_id = ANY(@user_ids)
ORDER BY user_id, id
