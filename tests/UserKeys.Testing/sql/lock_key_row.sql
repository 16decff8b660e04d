-- Test support: lock one key's row as a revoke or a PATCH in progress does (run inside a transaction and left open).
-- Parameters: @id bigint
SELECT id FROM api_keys WHERE id = @id FOR UPDATE
