-- Test support: whether the role @role (text) exists on this server.
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @role)
