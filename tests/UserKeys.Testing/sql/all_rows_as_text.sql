-- Test support: every row of the service's tables as text, to search for secrets in clear.
SELECT u::text FROM users u
UNION ALL
SELECT k::text FROM api_keys k
