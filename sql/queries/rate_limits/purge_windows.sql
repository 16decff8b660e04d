-- rate_limits/purge_windows: delete the rows of rate limit windows that ended before @before. Run every minute, it
-- deletes about a minute's worth of windows: one row per limit of each key verified in them.
-- Parameters: @before timestamptz
-- Index: key_rate_windows_window_end_idx.
DELETE FROM key_rate_windows
WHERE window_end < @before
