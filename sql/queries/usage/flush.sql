-- usage/flush: add one instance's counts of the last few seconds to the hourly buckets, for every key at once
-- (parallel arrays, one element per key and hour).
-- Parameters: @key_ids bigint[], @hours timestamptz[], @valid bigint[], @revoked bigint[], @expired bigint[],
--             @disabled bigint[], @insufficient_permissions bigint[], @rate_limited bigint[], @usage_exceeded bigint[]
-- Index: key_usage_pkey (the conflict target).
INSERT INTO key_usage AS u (key_id, hour, valid, revoked, expired, disabled, insufficient_permissions, rate_limited, usage_exceeded)
SELECT *
FROM unnest(@key_ids::bigint[], @hours::timestamptz[], @valid::bigint[], @revoked::bigint[], @expired::bigint[],
            @disabled::bigint[], @insufficient_permissions::bigint[], @rate_limited::bigint[], @usage_exceeded::bigint[])
ON CONFLICT (key_id, hour) DO UPDATE
SET valid                    = u.valid + EXCLUDED.valid,
    revoked                  = u.revoked + EXCLUDED.revoked,
    expired                  = u.expired + EXCLUDED.expired,
    disabled                 = u.disabled + EXCLUDED.disabled,
    insufficient_permissions = u.insufficient_permissions + EXCLUDED.insufficient_permissions,
    rate_limited             = u.rate_limited + EXCLUDED.rate_limited,
    usage_exceeded           = u.usage_exceeded + EXCLUDED.usage_exceeded
