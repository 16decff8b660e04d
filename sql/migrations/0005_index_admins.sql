-- userkeys:no-transaction
-- 0005_index_admins: the admins, found without reading every user (the last-admin guard of
-- 0006 asks "is any admin left?" on every demotion or deletion of an admin).
-- Built CONCURRENTLY: users stays writable while it builds. IF NOT EXISTS makes a rerun after an
-- interrupted build harmless (an INVALID index left by one must be dropped by hand first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_admins_idx ON users (id) WHERE role = 'admin'
