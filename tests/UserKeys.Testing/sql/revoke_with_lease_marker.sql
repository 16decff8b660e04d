-- Test support: a revocation in plain SQL by a statement that sets userkeys.lease (see promote_with_lease_marker). @id bigint
WITH marker AS (
    SELECT set_config('userkeys.lease', 'on', true) AS lease
)
UPDATE api_keys SET revoked_at = now() FROM marker WHERE id = @id AND marker.lease IS NOT NULL
