-- Test support: how many audit events name the key @id (bigint).
SELECT count(*) FROM audit_events WHERE key_id = @id
