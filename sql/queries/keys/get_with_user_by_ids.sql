-- keys/get_with_user_by_ids: keys by id, with their users, in one round trip. The auth cache renews the keys in
-- use in batches with it (KeyVerifier), instead of one lookup by token hash a key. A key's token hash never
-- changes (a roll makes a new key), so its id names the same token.
-- Parameters: @ids bigint[] (at most KeyVerifier.RenewalBatchSize, 500)
-- Reads api_keys_shown (the usage limits are the budget's; the user's come with it).
-- Index: api_keys_pkey, then users_pkey once a key. The user is read in a LATERAL subquery with LIMIT 1, which
-- PostgreSQL cannot flatten into a join: a join of a few hundred keys with a small users table is otherwise
-- planned as a hash join over a sequential scan of every user.
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
CROSS JOIN LATERAL (SELECT email, name, role, created_at, remaining, leased, refill_interval, refill_amount, refilled_at, rate_limits
                    FROM users
                    WHERE users.id = k.user_id
                    LIMIT 1) u
WHERE k.id = ANY(@ids)
