-- keys/lock_parent: the key a new key derives from (a member's calling key, or a rolled key), as it is now, locked
-- FOR SHARE until the transaction ends: an admin's change of it waits for the new key to commit (and then reaches
-- it: keys/impose_on_derived), or has committed and is what the new key is checked against. Its budget's key is
-- locked FOR KEY SHARE, so that it cannot be deleted (and its budget passed on) before the new key that names it
-- commits. No row: the key no longer exists, or its budget was just passed on (ask again).
-- Parameters: @id bigint
-- Index: api_keys_pkey, twice.
WITH parent AS (
    SELECT id, permissions, meta, expires_at, revoked_at, enabled, COALESCE(budget_key_id, id) AS budget_key_id, now() AS now
    FROM api_keys
    WHERE id = @id
    FOR SHARE
),
budget AS (
    SELECT b.id
    FROM api_keys b
    WHERE b.id = (SELECT budget_key_id FROM parent)
    FOR KEY SHARE
)
SELECT p.id, p.permissions, p.meta, p.expires_at, p.revoked_at, p.enabled, b.id AS budget_key_id, p.now
FROM parent p
JOIN budget b ON true
