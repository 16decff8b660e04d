-- keys/roll: the old half of a roll. Marks a live key of a user rolled and ends it after the grace period: its
-- expires_at becomes now + @grace_seconds, never later than it was. The new key (keys/insert) draws on the old key's
-- budget (keys/lock_parent), so the two share its credits and rate limit windows. Returns the key as it is now and
-- its expiry before (the new key's), or no row when the key does not exist, is revoked, expired or already rolled
-- (keys/get_state tells which).
-- Concurrency: the row lock serialises rolls of one key; READ COMMITTED re-checks the conditions on the row a
-- concurrent roll committed, so of ten concurrent rolls exactly one finds the key unrolled.
-- Parameters: @user_id bigint, @id bigint, @grace_seconds integer
-- Index: api_keys_user_id_idx (user_id, id).
UPDATE api_keys k
SET rolled_at  = now(),
    expires_at = LEAST(COALESCE(old.expires_at, 'infinity'), now() + make_interval(secs => @grace_seconds))
FROM (SELECT id, expires_at
      FROM api_keys
      WHERE id = @id AND user_id = @user_id
      FOR UPDATE) old
WHERE k.id = old.id
  AND k.rolled_at IS NULL
  AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > now())
RETURNING k.id, k.user_id, k.name, k.prefix, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.enabled,
          k.disabled_by_admin, k.scopes, k.permissions, k.meta, k.rolled_from_id, COALESCE(k.budget_key_id, k.id) AS budget_key_id,
          old.expires_at AS previous_expires_at
