-- Test support: try to empty the audit log (must be refused).
TRUNCATE audit_events
