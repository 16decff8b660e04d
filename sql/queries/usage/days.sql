-- usage/days: one key's usage per UTC day from @from (a day's start) up to @to (exclusive), every day listed (zero
-- when nothing was counted): the sum of the day's hours. Days are counted in UTC whatever the session's time zone.
-- Only when @user_id has that key: no rows otherwise (the caller answers 404; a range always has a bucket).
-- Parameters: @user_id bigint, @key_id bigint, @from timestamptz, @to timestamptz
-- Index: api_keys_user_id_idx for the key's owner; key_usage_pkey (key_id, hour), one range read.
SELECT d.start,
       COALESCE(sum(u.valid), 0)::bigint AS valid, COALESCE(sum(u.revoked), 0)::bigint AS revoked,
       COALESCE(sum(u.expired), 0)::bigint AS expired, COALESCE(sum(u.disabled), 0)::bigint AS disabled,
       COALESCE(sum(u.insufficient_permissions), 0)::bigint AS insufficient_permissions,
       COALESCE(sum(u.rate_limited), 0)::bigint AS rate_limited, COALESCE(sum(u.usage_exceeded), 0)::bigint AS usage_exceeded
FROM generate_series(@from::timestamptz AT TIME ZONE 'UTC', (@to::timestamptz AT TIME ZONE 'UTC') - interval '1 day', interval '1 day') AS g(utc)
CROSS JOIN LATERAL (SELECT g.utc AT TIME ZONE 'UTC' AS start) d
LEFT JOIN key_usage u ON u.key_id = @key_id AND u.hour >= d.start AND u.hour < d.start + interval '1 day'
WHERE EXISTS (SELECT 1 FROM api_keys k WHERE k.id = @key_id AND k.user_id = @user_id)
GROUP BY d.start
ORDER BY d.start
