-- users/list_page_by_offset_with_keys: an offset page of users with every key of theirs, in ONE statement:
-- one round trip and one snapshot, whatever the page size (include=keys). One row per key, ordered
-- like the listing, then by key id; a user without keys comes once, with null key columns.
-- Parameters: @limit integer (users, not rows), @offset integer
-- Index: users_created_at_id_idx for the page (walks past @offset entries), then api_keys_user_id_idx per user.
SELECT p.id, p.email, p.name, p.role, p.created_at, p.remaining, p.refill_interval, p.refill_amount,
       p.refilled_at, p.rate_limits,
       k.id           AS key_id,
       k.name         AS key_name,
       k.prefix       AS key_prefix,
       k.created_at   AS key_created_at,
       k.expires_at   AS key_expires_at,
       k.revoked_at   AS key_revoked_at,
       k.last_used_at AS key_last_used_at,
       k.enabled      AS key_enabled,
       k.scopes       AS key_scopes,
       k.permissions  AS key_permissions,
       k.meta         AS key_meta,
       k.rolled_from_id AS key_rolled_from_id,
       k.budget_key_id AS key_budget_key_id,
       k.remaining    AS key_remaining,
       k.refill_interval AS key_refill_interval,
       k.refill_amount AS key_refill_amount,
       k.refilled_at  AS key_refilled_at,
       k.rate_limits  AS key_rate_limits
FROM (SELECT id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
      FROM users
      ORDER BY created_at DESC, id DESC
      LIMIT @limit OFFSET @offset) p
LEFT JOIN api_keys_shown k ON k.user_id = p.id
ORDER BY p.created_at DESC, p.id DESC, k.id
