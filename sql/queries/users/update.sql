-- users/update: change email, name, role and/or usage limits in one statement, so that two concurrent partial
-- updates cannot overwrite each other's fields.
-- A null @email or @role keeps the current value; @name is applied only when @set_name is true (so a name can be
-- cleared to null); the usage limits like keys/update's: @remaining and the refill only with their set flags,
-- @rate_limits null keeps them. Making a user with a refill unlimited without clearing the refill matches no row
-- (users/get_by_id tells a missing user apart).
-- Setting remaining starts a new budget: nothing of it leased, a new credit epoch (units instances leased before are
-- not handed back into it); setting a refill counts the user refilled for the current period. Shows what is left.
-- Parameters: @id bigint, @email text (null), @set_name boolean, @name text (null), @role text (null),
--             @set_remaining boolean, @remaining bigint (null), @set_refill boolean, @refill_interval text (null),
--             @refill_amount bigint (null), @rate_limits text (a JSON array; null keeps them)
-- Index: users_pkey; users_email_lower_key enforces uniqueness (23505 -> email conflict).
UPDATE users
SET email = COALESCE(@email, email),
    name  = CASE WHEN @set_name THEN @name ELSE name END,
    role  = COALESCE(@role, role),
    remaining = CASE WHEN @set_remaining THEN @remaining
                     WHEN @set_refill AND @refill_interval::text IS NOT NULL AND remaining IS NULL THEN @refill_amount
                     ELSE remaining END,
    leased    = CASE WHEN @set_remaining OR (@set_refill AND @refill_interval::text IS NOT NULL AND remaining IS NULL) THEN 0
                     ELSE leased END,
    credit_epoch = CASE WHEN @set_remaining THEN credit_epoch + 1 ELSE credit_epoch END,
    refill_interval = CASE WHEN @set_refill THEN @refill_interval ELSE refill_interval END,
    refill_amount   = CASE WHEN @set_refill THEN @refill_amount ELSE refill_amount END,
    refilled_at     = CASE WHEN @set_refill AND @refill_interval::text IS NOT NULL
                           THEN date_trunc(CASE @refill_interval::text WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC')
                           WHEN @set_refill THEN NULL
                           ELSE refilled_at END,
    rate_limits     = COALESCE(@rate_limits::jsonb, rate_limits)
WHERE id = @id
  AND NOT (@set_remaining AND @remaining::bigint IS NULL AND refill_interval IS NOT NULL
           AND NOT (@set_refill AND @refill_interval::text IS NULL))
RETURNING id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
