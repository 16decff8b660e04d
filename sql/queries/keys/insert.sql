-- keys/insert: create an API key for a user, unless the user has @max_keys keys already (revoked ones count until
-- deleted); the token itself is never stored, only its SHA-256. Also the new key of a roll (@rolled_from_id).
-- No row returned: the user is at the cap. The caller locks the user first (users/lock_for_new_key), so
-- that concurrent inserts for one user count one after another and never pass the cap together.
-- Parameters: @user_id bigint, @name text (null), @prefix text, @token_hash bytea (32 bytes),
--             @expires_at timestamptz (null), @enabled boolean, @scopes text[], @permissions text[],
--             @meta text (a JSON object, or null), @rolled_from_id bigint (null), @remaining bigint (null: unlimited),
--             @refill_interval text (null, 'daily', 'monthly'), @refill_amount bigint (null),
--             @refilled_at timestamptz (null: see below), @rate_limits text (a JSON array), @max_keys integer
-- A key with a refill counts as refilled for the period it is created in (refilled_at: the period's start), unless
-- @refilled_at says otherwise (a roll's new key takes over the old key's).
-- Index: api_keys_user_id_idx for the count (index-only, at most @max_keys entries);
--        api_keys_token_hash_key (23505 -> token conflict); api_keys_user_id_fkey (23503 -> user not found).
INSERT INTO api_keys (user_id, name, prefix, token_hash, expires_at, enabled, scopes, permissions, meta, rolled_from_id,
                      remaining, refill_interval, refill_amount, refilled_at, rate_limits)
SELECT @user_id, @name, @prefix, @token_hash, @expires_at, @enabled, @scopes, @permissions, @meta::jsonb, @rolled_from_id,
       @remaining, @refill_interval, @refill_amount,
       CASE WHEN @refill_interval::text IS NOT NULL
            THEN COALESCE(@refilled_at::timestamptz,
                          date_trunc(CASE @refill_interval::text WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC')) END,
       @rate_limits::jsonb
WHERE (SELECT count(*) FROM api_keys WHERE user_id = @user_id) < @max_keys
RETURNING id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, enabled, scopes, permissions, meta,
          rolled_from_id, remaining, refill_interval, refill_amount, refilled_at, rate_limits
