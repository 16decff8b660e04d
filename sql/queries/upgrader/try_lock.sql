-- upgrader/try_lock: take the upgrader's advisory lock if it is free; true when taken.
-- Parameters: @key bigint
-- Index: none (no table is read).
SELECT pg_try_advisory_lock(@key)
