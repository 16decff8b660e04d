-- Test support: a user and a key as a schema before migration 0008 holds them (no governance columns yet).
WITH u AS (INSERT INTO users (email, role) VALUES ('before-0008@example.com', 'admin') RETURNING id)
INSERT INTO api_keys (user_id, name, prefix, token_hash)
SELECT id, 'old', 'uk_old0', sha256('before-0008') FROM u
