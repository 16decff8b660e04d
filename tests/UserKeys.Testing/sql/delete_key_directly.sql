-- Test support: delete a key in plain SQL. @id bigint
DELETE FROM api_keys WHERE id = @id
