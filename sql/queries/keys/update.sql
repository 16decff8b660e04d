-- keys/update: change a key's name, enabled, scopes, permissions, meta, expiry, credits and/or rate limits in one
-- statement, so that two concurrent partial updates cannot overwrite each other's fields. Matches no row (as for a key
-- that does not exist: keys/get_state tells which) when:
--   @scopes is not a subset of the stored scopes (scopes only narrow);
--   it makes a key with a refill unlimited without clearing the refill;
--   it sets the expiry of a rolled key;
--   for a holder (@holder: a member acting on its own key): it enables a key an admin disabled, moves a set expiry
--   later or to null, or names a permission the key's own do not cover (userkeys_permissions_cover: only narrow).
-- A null @enabled, @scopes or @permissions keeps the stored value; @name, @meta and @expires_at are applied only
-- when their set flag (@set_name, @set_meta, @set_expires_at) is true (so they can be cleared to null). An admin's
-- disable is remembered (disabled_by_admin) until an admin enables the key.
-- Usage limits are set only on a key with a budget of its own (the service sets a derived key's on its budget's key).
-- Parameters: @user_id bigint, @id bigint, @holder boolean, @set_name boolean, @name text (null), @enabled boolean (null),
--             @scopes text[] (null), @permissions text[] (null), @set_meta boolean, @meta text (null),
--             @set_expires_at boolean, @expires_at timestamptz (null), @set_remaining boolean, @remaining bigint (null),
--             @set_refill boolean, @refill_interval text (null), @refill_amount bigint (null),
--             @rate_limits text (a JSON array; null keeps them)
-- Setting remaining starts a new budget: nothing of it leased, a new credit epoch (units instances leased before are
-- not handed back into it); setting a refill counts the key refilled for the current period. Returns the key as api_keys_shown shows it.
-- Index: api_keys_user_id_idx (user_id, id); api_keys_pkey for the budget.
WITH changed AS (
    UPDATE api_keys
    SET name        = CASE WHEN @set_name THEN @name ELSE name END,
        enabled     = COALESCE(@enabled, enabled),
        disabled_by_admin = CASE WHEN @enabled::boolean IS NULL THEN disabled_by_admin
                                 WHEN @enabled::boolean THEN false
                                 ELSE disabled_by_admin OR NOT @holder END,
        scopes      = COALESCE(@scopes, scopes),
        permissions = COALESCE(@permissions, permissions),
        meta        = CASE WHEN @set_meta THEN @meta::jsonb ELSE meta END,
        expires_at  = CASE WHEN @set_expires_at THEN @expires_at ELSE expires_at END,
        remaining   = CASE WHEN @set_remaining THEN @remaining
                           WHEN @set_refill AND @refill_interval::text IS NOT NULL AND remaining IS NULL THEN @refill_amount
                           ELSE remaining END,
        leased      = CASE WHEN @set_remaining OR (@set_refill AND @refill_interval::text IS NOT NULL AND remaining IS NULL) THEN 0
                           ELSE leased END,
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
      AND NOT (@set_expires_at AND rolled_at IS NOT NULL)
      AND NOT (@holder AND @enabled::boolean IS TRUE AND disabled_by_admin)
      AND NOT (@holder AND @permissions::text[] IS NOT NULL AND NOT userkeys_permissions_cover(permissions, @permissions::text[]))
      AND NOT (@holder AND @set_expires_at AND expires_at IS NOT NULL
               AND (@expires_at::timestamptz IS NULL OR @expires_at::timestamptz > expires_at))
    RETURNING *
)
SELECT k.id, k.user_id, k.name, k.prefix, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.enabled, k.scopes,
       k.permissions, k.meta, k.rolled_from_id, COALESCE(k.budget_key_id, k.id) AS budget_key_id,
       COALESCE(b.remaining - b.leased, k.remaining - k.leased) AS remaining, COALESCE(b.refill_interval, k.refill_interval) AS refill_interval,
       COALESCE(b.refill_amount, k.refill_amount) AS refill_amount, COALESCE(b.refilled_at, k.refilled_at) AS refilled_at,
       COALESCE(b.rate_limits, k.rate_limits) AS rate_limits
FROM changed k
LEFT JOIN api_keys b ON b.id = k.budget_key_id
