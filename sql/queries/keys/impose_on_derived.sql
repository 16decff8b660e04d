-- keys/impose_on_derived: applies what an admin imposed on key @id to every key derived from it by its holder, down
-- the tree (derived_from_id): an admin's disable (the derived key is disabled by an admin too), a revocation, a
-- shorter expiry, narrower permissions (a derived key keeps only what the key's permissions cover) and the meta.
-- Returns the ids of the keys it changed (their notifications reach every instance's cache at commit).
-- Parameters: @id bigint
-- Index: api_keys_pkey; api_keys_derived_from_id_idx for each level of the tree.
WITH RECURSIVE parent AS (
    SELECT id, revoked_at, expires_at, disabled_by_admin, permissions, meta
    FROM api_keys
    WHERE id = @id
),
tree AS (
    SELECT k.id, 1 AS depth
    FROM api_keys k
    WHERE k.derived_from_id = @id
    UNION ALL
    SELECT k.id, t.depth + 1
    FROM tree t
    JOIN api_keys k ON k.derived_from_id = t.id
    WHERE t.depth < 100
)
UPDATE api_keys d
SET enabled           = d.enabled AND NOT p.disabled_by_admin,
    disabled_by_admin = d.disabled_by_admin OR p.disabled_by_admin,
    revoked_at        = COALESCE(d.revoked_at, p.revoked_at),
    expires_at        = CASE WHEN p.expires_at IS NULL THEN d.expires_at ELSE LEAST(COALESCE(d.expires_at, 'infinity'), p.expires_at) END,
    permissions       = ARRAY(SELECT permission FROM unnest(d.permissions) AS permission
                              WHERE userkeys_permissions_cover(p.permissions, ARRAY[permission])),
    meta              = p.meta
FROM parent p
WHERE d.id IN (SELECT id FROM tree)
  AND (d.enabled AND p.disabled_by_admin
       OR d.revoked_at IS NULL AND p.revoked_at IS NOT NULL
       OR p.expires_at IS NOT NULL AND (d.expires_at IS NULL OR d.expires_at > p.expires_at)
       OR NOT userkeys_permissions_cover(p.permissions, d.permissions)
       OR d.meta IS DISTINCT FROM p.meta)
RETURNING d.id
