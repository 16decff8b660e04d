-- auth/heartbeat: the auth cache's listener proves that notifications reach it: it sends one on the
-- channel it listens to and must receive it back (a pooler that drops LISTEN, or a silent network
-- break, stops the heartbeats and so turns the cache off). Credential changes themselves are
-- announced by triggers (migration 0004), not by the service.
-- Parameters: @payload text ("heartbeat:<instance>:<sequence>")
-- Index: none (no table is read).
SELECT pg_notify('userkeys_auth_changed', @payload)
