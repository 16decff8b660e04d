-- userkeys:no-transaction
-- Test support: a migration that cannot run inside a transaction block.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_test_idx ON users (name)
