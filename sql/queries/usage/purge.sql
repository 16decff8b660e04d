-- usage/purge: delete the hourly buckets older than @before (UserKeys__UsageRetentionDays), up to @batch_size.
-- Parameters: @before timestamptz, @batch_size integer
-- Index: key_usage_hour_idx for the batch, key_usage_pkey for the delete.
DELETE FROM key_usage
WHERE (key_id, hour) IN (SELECT key_id, hour FROM key_usage WHERE hour < @before LIMIT @batch_size)
