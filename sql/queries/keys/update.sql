-- keys/update: change a key's name, enabled, scopes, permissions, meta, expiry, credits and/or rate limits in one
-- statement, so that two concurrent partial updates cannot overwrite each other's fields. Scopes only narrow: a @scopes that is not a
-- subset of the stored scopes matches no row, nor does making a key with a refill unlimited without clearing the
-- refill (as does a key that does not exist: keys/get_state tells which).
-- A null @enabled, @scopes or @permissions keeps the stored value; @name, @meta and @expires_at are applied only
-- when their set flag (@set_name, @set_meta, @set_expires_at) is true (so they can be cleared to null).
-- Parameters: @user_id bigint, @id bigint, @set_name boolean, @name text (null), @enabled boolean (null),
--             @scopes text[] (null), @permissions text[] (null), @set_meta boolean, @meta text (null),
--             @set_expires_at boolean, @expires_at timestamptz (null), @set_remaining boolean, @remaining bigint (null),
--             @set_refill boolean, @refill_interval text (null), @refill_amount bigint (null),
--             @rate_limits text (a JSON array; null keeps them)
-- Setting remaining starts a new credit epoch (units instances leased before are not handed back into it); setting
-- a refill counts the key refilled for the current period.
-- Index: api_keys_user_id_idx (user_id, id).
UPDATE api_keys
SET name        = CASE WHEN @set_name THEN @name ELSE name END,
    enabled     = COALESCE(@enabled, enabled),
    scopes      = COALESCE(@scopes, scopes),
    permissions = COALESCE(@permissions, permissions),
    meta        = CASE WHEN @set_meta THEN @meta::jsonb ELSE meta END,
    expires_at  = CASE WHEN @set_expires_at THEN @expires_at ELSE expires_at END,
    remaining   = CASE WHEN @set_remaining THEN @remaining
                       WHEN @set_refill AND @refill_interval::text IS NOT NULL AND remaining IS NULL THEN @refill_amount
                       ELSE remaining END,
    credit_epoch = CASE WHEN @set_remaining THEN credit_epoch + 1 ELSE credit_epoch END,
    refill_interval = CASE WHEN @set_refill THEN @refill_interval ELSE refill_interval END,
    refill_amount   = CASE WHEN @set_refill THEN @refill_amount ELSE refill_amount END,
    refilled_at     = CASE WHEN @set_refill AND @refill_interval::text IS NOT NULL
                           THEN date_trunc(CASE @refill_interval::text WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC')
                           WHEN @set_refill THEN NULL
                           ELSE refilled_at END,
    rate_limits     = COALESCE(@rate_limits::jsonb, rate_limits)
WHERE id = @id AND user_id = @user_id
  AND (@scopes::text[] IS NULL OR @scopes::text[] <@ scopes)
  AND NOT (@set_remaining AND @remaining::bigint IS NULL AND refill_interval IS NOT NULL
           AND NOT (@set_refill AND @refill_interval::text IS NULL))
RETURNING id, user_id, name, prefix, created_at, expires_at, revoked_at, last_used_at, enabled, scopes, permissions, meta,
          rolled_from_id, remaining, refill_interval, refill_amount, refilled_at, rate_limits
