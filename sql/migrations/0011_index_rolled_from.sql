-- userkeys:no-transaction
-- 0011_index_rolled_from: the key that replaced a key (credits/lease follows rolls: a key in its grace period
-- draws on its successor's credits). Built CONCURRENTLY: api_keys stays writable while it builds. IF NOT EXISTS
-- makes a rerun after an interrupted build harmless (an INVALID index left by one must be dropped by hand first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS api_keys_rolled_from_id_idx ON api_keys (rolled_from_id) WHERE rolled_from_id IS NOT NULL
