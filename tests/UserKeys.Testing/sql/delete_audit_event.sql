-- Test support: try to delete an audit event outside the retention purge (must be refused). @id bigint
DELETE FROM audit_events WHERE id = @id
