-- Test support: try to rewrite an audit event (the append-only trigger must refuse it). @id bigint
UPDATE audit_events SET action = 'user.created', changes = '{}' WHERE id = @id
