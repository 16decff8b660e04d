-- Test support: every outcome counted for key @key_id (bigint), over all its buckets, and how many buckets it has.
SELECT count(*) AS buckets, COALESCE(sum(valid), 0)::bigint AS valid, COALESCE(sum(revoked), 0)::bigint AS revoked,
       COALESCE(sum(insufficient_permissions), 0)::bigint AS insufficient_permissions
FROM key_usage WHERE key_id = @key_id
