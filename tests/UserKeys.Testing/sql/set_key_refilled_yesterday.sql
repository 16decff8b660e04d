-- Test support: as if a UTC day had begun since the key's last refill, with its credits spent. @id bigint
UPDATE api_keys SET refilled_at = refilled_at - interval '1 day', remaining = 0 WHERE id = @id
