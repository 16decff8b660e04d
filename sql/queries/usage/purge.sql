-- usage/purge: delete the hourly buckets older than @before (UserKeys__UsageRetentionDays), up to @batch_size, and
-- up to @batch_size ids of operations applied more than a day ago (a retry comes within seconds; usage/flush,
-- credits/give_back).
-- Parameters: @before timestamptz, @batch_size integer
-- Index: key_usage_hour_idx for the batch, key_usage_pkey for the delete; applied_operations_applied_at_idx.
WITH operations_purged AS (
    DELETE FROM applied_operations
    WHERE id IN (SELECT id FROM applied_operations WHERE applied_at < now() - interval '1 day' LIMIT @batch_size)
)
DELETE FROM key_usage
WHERE (key_id, hour) IN (SELECT key_id, hour FROM key_usage WHERE hour < @before LIMIT @batch_size)
