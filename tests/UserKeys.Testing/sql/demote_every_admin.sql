-- Test support: every admin made a member in one statement (the last-admin guard must refuse it).
UPDATE public.users SET role = 'member' WHERE role = 'admin'
