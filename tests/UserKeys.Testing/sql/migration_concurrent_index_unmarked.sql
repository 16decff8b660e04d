-- Test support: the same migration without the no-transaction marker: it must fail.
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_name_test_idx ON users (name)
