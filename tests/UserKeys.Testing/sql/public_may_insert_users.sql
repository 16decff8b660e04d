-- Test support: whether PUBLIC may insert into users.
SELECT has_table_privilege('public', 'public.users', 'INSERT')
