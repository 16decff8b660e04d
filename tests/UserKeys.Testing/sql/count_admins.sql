-- Test support: how many admins there are.
SELECT count(*) FROM users WHERE role = 'admin'
