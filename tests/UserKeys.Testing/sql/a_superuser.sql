-- Test support: the name of some superuser of the server (pg_roles is readable by every role).
SELECT rolname::text FROM pg_roles WHERE rolsuper ORDER BY rolname LIMIT 1
