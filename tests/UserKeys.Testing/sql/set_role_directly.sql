-- Test support: change a user's role in plain SQL. @id bigint, @role text
UPDATE users SET role = @role WHERE id = @id
