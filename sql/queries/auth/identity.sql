-- auth/identity: which database a connection reaches: its name and a digest of its cursor secret (a random value made
-- by migration 0003, so two databases never share it). The auth cache's listener compares its own connection's with
-- the service's before it serves: a ConnectionStrings:UserKeysListen naming another database would hear its heartbeat
-- and never a change.
-- Parameters: @name text (the secret's name)
-- Index: service_secrets_pkey.
SELECT current_database() || ':' || encode(sha256(value), 'hex') AS identity
FROM service_secrets
WHERE name = @name
