-- keys/revoke: revoke a key of a user. Idempotent: a second revoke keeps the first revoked_at.
-- Returns the key as api_keys_shown shows it (its usage limits are its budget's).
-- Parameters: @user_id bigint, @id bigint
-- Index: api_keys_user_id_idx (user_id, id): both columns are in the condition (api_keys_pkey would serve too);
--        api_keys_pkey for the budget.
WITH changed AS (
    UPDATE api_keys
    SET revoked_at = COALESCE(revoked_at, now())
    WHERE id = @id AND user_id = @user_id
    RETURNING *
)
SELECT k.id, k.user_id, k.name, k.prefix, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.enabled, k.scopes,
       k.permissions, k.meta, k.rolled_from_id, COALESCE(k.budget_key_id, k.id) AS budget_key_id,
       COALESCE(b.remaining - b.leased, k.remaining - k.leased) AS remaining, COALESCE(b.refill_interval, k.refill_interval) AS refill_interval,
       COALESCE(b.refill_amount, k.refill_amount) AS refill_amount, COALESCE(b.refilled_at, k.refilled_at) AS refilled_at,
       COALESCE(b.rate_limits, k.rate_limits) AS rate_limits
FROM changed k
LEFT JOIN api_keys b ON b.id = k.budget_key_id
