-- Test support: what a key written before migration 0008 reads as after it.
SELECT enabled, cardinality(permissions) AS permission_count, meta IS NULL AS no_meta, rolled_from_id IS NULL AS not_rolled
FROM api_keys WHERE name = 'old'
