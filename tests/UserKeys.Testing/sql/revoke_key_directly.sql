-- Test support: revoke a key the way a DBA would, in plain SQL (no service code runs). @id bigint
UPDATE api_keys SET revoked_at = now() WHERE id = @id
