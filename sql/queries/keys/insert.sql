-- keys/insert: create an API key for a user, unless the user has @max_keys keys already (revoked ones count until
-- deleted); the token itself is never stored, only its SHA-256. Also the new key of a roll (@rolled_from_id).
-- No row returned: the user is at the cap. The caller locks the user first (users/lock_for_new_key), so
-- that concurrent inserts for one user count one after another and never pass the cap together.
-- A key a member derives from its own (@derived_from_id) and a roll's new key draw on that key's budget
-- (@budget_key_id, locked by keys/lock_parent) and have no usage limits of its own; the key is returned as
-- api_keys_shown shows it.
-- Parameters: @user_id bigint, @name text (null), @prefix text, @token_hash bytea (32 bytes),
--             @expires_at timestamptz (null), @enabled boolean, @disabled_by_admin boolean, @scopes text[],
--             @permissions text[], @meta text (a JSON object, or null), @rolled_from_id bigint (null), @derived_from_id bigint (null),
--             @budget_key_id bigint (null: its own), @remaining bigint (null: unlimited),
--             @refill_interval text (null, 'daily', 'monthly'), @refill_amount bigint (null), @rate_limits text (a JSON
--             array), @max_keys integer
-- A key with a refill counts as refilled for the period it is created in (refilled_at: the period's start).
-- Index: api_keys_user_id_idx for the count (index-only, at most @max_keys entries);
--        api_keys_token_hash_key (23505 -> token conflict); api_keys_user_id_fkey (23503 -> user not found).
WITH changed AS (
    INSERT INTO api_keys (user_id, name, prefix, token_hash, expires_at, enabled, disabled_by_admin, scopes, permissions, meta,
                          rolled_from_id, derived_from_id, budget_key_id, remaining, refill_interval, refill_amount, refilled_at, rate_limits)
    SELECT @user_id, @name, @prefix, @token_hash, @expires_at, @enabled, @disabled_by_admin, @scopes, @permissions, @meta::jsonb,
           @rolled_from_id, @derived_from_id, @budget_key_id, @remaining, @refill_interval, @refill_amount,
           CASE WHEN @refill_interval::text IS NOT NULL
                THEN date_trunc(CASE @refill_interval::text WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC') END,
           @rate_limits::jsonb
    WHERE (SELECT count(*) FROM api_keys WHERE user_id = @user_id) < @max_keys
    RETURNING *
)
SELECT k.id, k.user_id, k.name, k.prefix, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.enabled, k.scopes,
       k.permissions, k.meta, k.rolled_from_id, COALESCE(k.budget_key_id, k.id) AS budget_key_id,
       COALESCE(b.remaining - b.leased, k.remaining - k.leased) AS remaining, COALESCE(b.refill_interval, k.refill_interval) AS refill_interval,
       COALESCE(b.refill_amount, k.refill_amount) AS refill_amount, COALESCE(b.refilled_at, k.refilled_at) AS refilled_at,
       COALESCE(b.rate_limits, k.rate_limits) AS rate_limits
FROM changed k
LEFT JOIN api_keys b ON b.id = k.budget_key_id
