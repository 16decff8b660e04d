-- keys/touch_last_used: record when keys were last used, for every key one instance saw used since its last flush,
-- in one statement (parallel arrays, one element per key). A key whose last_used_at is less than a minute older
-- than its use keeps it (at most one write a minute per key, whatever the instances), so authentication and
-- verification stay reads. A row another transaction holds locked (a revoke, a PATCH) is skipped, not waited
-- for: the change evicts the cached key, and its next use records again. Writes only last_used_at: use, not a
-- change: the audit and notification triggers do not fire for it (0020). Returns how many rows it wrote.
-- Parameters: @ids bigint[], @used_at timestamptz[]
-- Index: api_keys_pkey (one probe per key; the rows are locked in id order).
WITH due AS (
    SELECT k.id, u.used_at
    FROM unnest(@ids::bigint[], @used_at::timestamptz[]) AS u(id, used_at)
    JOIN api_keys k ON k.id = u.id
    WHERE k.last_used_at IS NULL OR k.last_used_at < u.used_at - interval '1 minute'
    ORDER BY k.id
    FOR UPDATE OF k SKIP LOCKED
)
UPDATE api_keys k
SET last_used_at = due.used_at
FROM due
WHERE k.id = due.id
