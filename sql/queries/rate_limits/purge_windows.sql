-- rate_limits/purge_windows: delete the rows of rate limit windows, of keys and of users, that ended before @before.
-- Run every minute, it deletes about a minute's worth of windows: one row per limit of each key or user verified in them.
-- Parameters: @before timestamptz
-- Index: key_rate_windows_window_end_idx, user_rate_windows_window_end_idx.
WITH keys_purged AS (
    DELETE FROM key_rate_windows
    WHERE window_end < @before
)
DELETE FROM user_rate_windows
WHERE window_end < @before
