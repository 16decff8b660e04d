-- keys/revoke: revoke a key of a user. Idempotent: a second revoke keeps the first revoked_at.
-- Parameters: @user_id bigint, @id bigint
-- Index: api_keys_user_id_idx (user_id, id): both columns are in the condition (api_keys_pkey would serve too).
UPDATE api_keys
SET revoked_at = COALESCE(revoked_at, now())
WHERE id = @id AND user_id = @user_id
RETURNING id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, enabled, scopes, permissions, meta,
          rolled_from_id, remaining, refill_interval, refill_amount, refilled_at, rate_limits
