-- Test support: the names of every constraint and index on the service's tables.
SELECT conname AS name FROM pg_constraint WHERE conrelid IN ('users'::regclass, 'api_keys'::regclass)
UNION
SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename IN ('users', 'api_keys')
