-- upgrader/lock: serialise concurrent upgraders (two deploy pipelines at once).
-- A session-level advisory lock, held on the upgrader's own connection until unlock or disconnect.
-- Parameters: @key bigint
-- Index: none (no table is read).
SELECT pg_advisory_lock(@key)
