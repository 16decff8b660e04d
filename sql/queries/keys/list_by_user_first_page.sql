-- keys/list_by_user_first_page: the first page of one user's keys, newest first.
-- Parameters: @user_id bigint, @limit integer
-- Index: api_keys_user_id_idx (user_id, id), read backwards; stops after @limit entries.
SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, enabled, scopes, permissions, meta,
       rolled_from_id, remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM api_keys
WHERE user_id = @user_id
ORDER BY id DESC
LIMIT @limit
