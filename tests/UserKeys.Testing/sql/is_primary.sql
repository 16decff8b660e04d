-- Test support: whether this server accepts writes (not in recovery: a primary, or a promoted standby).
SELECT NOT pg_is_in_recovery()
