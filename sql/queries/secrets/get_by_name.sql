-- secrets/get_by_name: one service secret (e.g. cursor_hmac_key), read once per process and cached.
-- Parameters: @name text
-- Index: service_secrets_pkey
SELECT value
FROM service_secrets
WHERE name = @name
