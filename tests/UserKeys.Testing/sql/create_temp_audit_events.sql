-- Test support: a temporary audit_events in this session, shaped like the real one (it must capture nothing).
CREATE TEMP TABLE audit_events (LIKE public.audit_events INCLUDING ALL)
