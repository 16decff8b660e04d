-- keys/list_by_user_first_page: the first page of one user's keys, newest first.
-- Parameters: @user_id bigint, @limit integer
-- Reads api_keys_shown (a key with its budget's limits: api_keys_pkey for a key that draws on another's).
-- Index: api_keys_user_id_idx (user_id, id), read backwards; stops after @limit entries.
SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, enabled, scopes, permissions, meta,
       rolled_from_id, budget_key_id, remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM api_keys_shown
WHERE user_id = @user_id
ORDER BY id DESC
LIMIT @limit
