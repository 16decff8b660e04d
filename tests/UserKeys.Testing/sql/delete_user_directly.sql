-- Test support: delete a user (and so its keys) in plain SQL. @id bigint
DELETE FROM users WHERE id = @id
