-- Test support: the rows of this session's temporary audit_events.
SELECT count(*) FROM pg_temp.audit_events
