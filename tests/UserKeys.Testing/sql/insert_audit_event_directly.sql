-- Test support: try to write an audit event of one's own (the service's role must not be able to).
INSERT INTO audit_events (action, db_role, changes) VALUES ('user.updated', current_user, '{}')
