-- Test support: make a key expire now, in plain SQL. @id bigint
UPDATE api_keys SET expires_at = now() WHERE id = @id
