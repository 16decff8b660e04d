-- session/set_transaction_read_only: make the current transaction read-only.
-- Sent as the first statement of a read-only unit of work (Npgsql sends the BEGIN with it,
-- in the same round trip), so any write in that unit of work fails with 25006.
-- Parameters: none
-- Index: none (no table is read).
-- Plan: none (utility statement).
SET TRANSACTION READ ONLY
