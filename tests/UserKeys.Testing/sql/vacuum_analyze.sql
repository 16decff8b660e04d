-- Test support: fresh statistics and visibility map (one statement: VACUUM runs outside transactions).
VACUUM (ANALYZE) users, api_keys, audit_events
