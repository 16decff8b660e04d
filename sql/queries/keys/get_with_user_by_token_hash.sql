-- keys/get_with_user_by_token_hash: the key for a token hash, with its user, in one round trip.
-- Used by authentication and by POST /v1/keys/verify.
-- Parameters: @token_hash bytea
-- Index: api_keys_token_hash_key, then users_pkey.
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
       k.remaining,
       k.refill_interval,
       k.refill_amount,
       k.refilled_at,
       k.rate_limits,
       u.email      AS user_email,
       u.name       AS user_name,
       u.role       AS user_role,
       u.created_at AS user_created_at
FROM api_keys k
JOIN users u ON u.id = k.user_id
WHERE k.token_hash = @token_hash
