-- session/ping: prove a long-lived connection still reaches the server.
-- Parameters: none
-- Index: none (no table is read).
SELECT 1
