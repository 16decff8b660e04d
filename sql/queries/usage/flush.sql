-- usage/flush: add one instance's counts of the last few seconds to the hourly buckets, for every key at once
-- (parallel arrays, one element per key and hour). @operation_id makes it count once: a retry after an ambiguous
-- failure finds its id in applied_operations and adds nothing.
-- Parameters: @key_ids bigint[], @hours timestamptz[], @valid bigint[], @revoked bigint[], @expired bigint[],
--             @disabled bigint[], @insufficient_permissions bigint[], @rate_limited bigint[], @usage_exceeded bigint[],
--             @operation_id uuid
-- Index: applied_operations_pkey, key_usage_pkey (the conflict targets).
WITH applied AS (
    INSERT INTO applied_operations (id)
    VALUES (@operation_id)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
INSERT INTO key_usage AS u (key_id, hour, valid, revoked, expired, disabled, insufficient_permissions, rate_limited, usage_exceeded)
SELECT c.*
FROM unnest(@key_ids::bigint[], @hours::timestamptz[], @valid::bigint[], @revoked::bigint[], @expired::bigint[],
            @disabled::bigint[], @insufficient_permissions::bigint[], @rate_limited::bigint[], @usage_exceeded::bigint[])
     AS c(key_id, hour, valid, revoked, expired, disabled, insufficient_permissions, rate_limited, usage_exceeded)
CROSS JOIN applied
ON CONFLICT (key_id, hour) DO UPDATE
SET valid                    = u.valid + EXCLUDED.valid,
    revoked                  = u.revoked + EXCLUDED.revoked,
    expired                  = u.expired + EXCLUDED.expired,
    disabled                 = u.disabled + EXCLUDED.disabled,
    insufficient_permissions = u.insufficient_permissions + EXCLUDED.insufficient_permissions,
    rate_limited             = u.rate_limited + EXCLUDED.rate_limited,
    usage_exceeded           = u.usage_exceeded + EXCLUDED.usage_exceeded
