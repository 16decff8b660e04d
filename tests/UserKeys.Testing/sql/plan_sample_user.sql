-- Test support: a user half way through the seeded table, and a key hash, as representative parameters.
SELECT u.id, u.email, u.created_at, (SELECT token_hash FROM api_keys WHERE user_id = u.id LIMIT 1) AS token_hash
FROM users u ORDER BY u.id OFFSET 100000 LIMIT 1
