-- keys/touch_last_used: record use of a key, at most once a minute per key, so that
-- verifying a key stays a read in the common case and hot keys do not contend on one row.
-- Returns the new last_used_at, or no row when the key was used within the last minute or is gone.
-- Parameters: @id bigint
-- Index: api_keys_pkey
UPDATE api_keys
SET last_used_at = now()
WHERE id = @id
  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
RETURNING last_used_at
