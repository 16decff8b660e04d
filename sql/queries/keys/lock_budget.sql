-- keys/lock_budget: the budget a key derived from key @id draws on (its budget_key_id, or itself), locked FOR KEY
-- SHARE until the transaction ends, so that the budget's key cannot be deleted (and its budget passed on) before the
-- derived key that names it commits. No row: key @id no longer exists, or its budget was just passed on (ask again).
-- Parameters: @id bigint
-- Index: api_keys_pkey, twice.
SELECT b.id
FROM api_keys b
WHERE b.id = (SELECT COALESCE(k.budget_key_id, k.id) FROM api_keys k WHERE k.id = @id)
FOR KEY SHARE
