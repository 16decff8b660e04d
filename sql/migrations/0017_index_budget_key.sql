-- userkeys:no-transaction
-- 0017_index_budget_key: the keys that draw on a key's budget (0016): found when a budget's key is deleted (its heir)
-- and when it changes. Built CONCURRENTLY: api_keys stays writable while it builds. IF NOT EXISTS makes a rerun after an
-- interrupted build harmless (an INVALID index left by one must be dropped by hand first).
CREATE INDEX CONCURRENTLY IF NOT EXISTS api_keys_budget_key_id_idx ON api_keys (budget_key_id) WHERE budget_key_id IS NOT NULL
