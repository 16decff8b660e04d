-- usage/hours: one key's usage per UTC hour from @from (an hour's start) up to @to (exclusive), every hour listed
-- (zero when nothing was counted).
-- Only when @user_id has that key: no rows otherwise (the caller answers 404; a range always has a bucket).
-- Parameters: @user_id bigint, @key_id bigint, @from timestamptz, @to timestamptz
-- Index: api_keys_user_id_idx for the key's owner; key_usage_pkey (key_id, hour), one range read.
SELECT h.start,
       COALESCE(u.valid, 0) AS valid, COALESCE(u.revoked, 0) AS revoked, COALESCE(u.expired, 0) AS expired,
       COALESCE(u.disabled, 0) AS disabled, COALESCE(u.insufficient_permissions, 0) AS insufficient_permissions,
       COALESCE(u.rate_limited, 0) AS rate_limited, COALESCE(u.usage_exceeded, 0) AS usage_exceeded
FROM generate_series(@from::timestamptz, @to::timestamptz - interval '1 hour', interval '1 hour') AS h(start)
LEFT JOIN key_usage u ON u.key_id = @key_id AND u.hour = h.start
WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = @key_id AND k.user_id = @user_id)
ORDER BY h.start
