-- 0013_key_usage: how each key was used, per UTC hour and outcome (../shared/API.md, "Usage control", and
-- GET .../keys/{key_id}/usage): verifications and authentications with the key, valid or refused and why.
-- Instances count in memory and add their counts here in batches (usage/flush: one statement for all keys, at most
-- 10 s behind, never a write per verification). No foreign key: a deleted key's rows go with the retention purge
-- (usage/purge, UserKeys__UsageRetentionDays), and a flush never fails because a key was deleted meanwhile.

CREATE TABLE key_usage (
    key_id                    bigint      NOT NULL,
    hour                      timestamptz NOT NULL,
    valid                     bigint      NOT NULL DEFAULT 0,
    revoked                   bigint      NOT NULL DEFAULT 0,
    expired                   bigint      NOT NULL DEFAULT 0,
    disabled                  bigint      NOT NULL DEFAULT 0,
    insufficient_permissions  bigint      NOT NULL DEFAULT 0,
    rate_limited              bigint      NOT NULL DEFAULT 0,
    usage_exceeded            bigint      NOT NULL DEFAULT 0,
    CONSTRAINT key_usage_pkey PRIMARY KEY (key_id, hour),
    CONSTRAINT key_usage_hour_check CHECK (date_trunc('hour', hour, 'UTC') = hour)
);

-- Serves the retention purge.
CREATE INDEX key_usage_hour_idx ON key_usage (hour);
