-- auth/notify_changed: tell every instance that cached credentials changed ("key:<id>" or "user:<id>").
-- Sent inside the transaction that makes the change: PostgreSQL delivers it only if that commits.
-- Parameters: @payload text
-- Index: none (no table is read).
SELECT pg_notify('userkeys_auth_changed', @payload)
