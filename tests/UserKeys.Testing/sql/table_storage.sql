-- Test support: the file each table's rows live in (relfilenode): a migration that rewrites a table gives it a new one.
SELECT relname AS name, relfilenode AS file FROM pg_class WHERE relname IN ('users', 'api_keys') ORDER BY relname
