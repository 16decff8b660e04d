-- auth/listen: subscribe this session (the auth cache's own connection) to credential changes.
-- Parameters: none
-- Index: none (no table is read).
-- Plan: none (utility statement).
LISTEN userkeys_auth_changed
