-- upgrader/unlock: release the upgrader's advisory lock.
-- Parameters: @key bigint
-- Index: none (no table is read).
SELECT pg_advisory_unlock(@key)
