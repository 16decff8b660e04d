-- keys/get_with_user_by_token_hash: the key for a token hash, with its user and both their usage limits, in one round trip.
-- Used by authentication and by POST /v1/keys/verify.
-- Parameters: @token_hash bytea
-- Reads api_keys_shown: the key's usage limits are its budget's (budget_key_id), and the user's come with it.
-- Index: api_keys_token_hash_key, then users_pkey (and api_keys_pkey for a key that draws on another's budget).
SELECT k.id,
       k.user_id,
       k.name,
       k.prefix,
       k.created_at,
       k.expires_at,
       k.revoked_at,
       k.last_used_at,
       k.enabled,
       k.scopes,
       k.permissions,
       k.meta,
       k.rolled_from_id,
       k.budget_key_id,
       k.remaining,
       k.refill_interval,
       k.refill_amount,
       k.refilled_at,
       k.rate_limits,
       u.email      AS user_email,
       u.name       AS user_name,
       u.role       AS user_role,
       u.created_at AS user_created_at,
       u.remaining - u.leased AS user_remaining,
       u.refill_interval AS user_refill_interval,
       u.refill_amount AS user_refill_amount,
       u.refilled_at AS user_refilled_at,
       u.rate_limits AS user_rate_limits
FROM api_keys_shown k
JOIN users u ON u.id = k.user_id
WHERE k.token_hash = @token_hash
