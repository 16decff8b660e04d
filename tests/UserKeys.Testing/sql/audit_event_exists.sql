-- Test support: whether the audit event @id (bigint) is still there.
SELECT EXISTS (SELECT 1 FROM audit_events WHERE id = @id)
