-- Test support: a user renamed in plain SQL. @id bigint, @name text
UPDATE public.users SET name = @name WHERE id = @id
