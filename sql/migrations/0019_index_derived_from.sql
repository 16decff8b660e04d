-- userkeys:no-transaction
-- 0019_index_derived_from: the keys derived from a key (0018), walked when an admin's change of it is applied to
-- them. Built CONCURRENTLY: api_keys stays writable while it builds. IF NOT EXISTS makes a rerun after an interrupted
-- build harmless (an INVALID index left by one must be dropped by hand first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS api_keys_derived_from_id_idx ON api_keys (derived_from_id) WHERE derived_from_id IS NOT NULL
