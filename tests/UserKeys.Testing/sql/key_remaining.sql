-- Test support: the credits a key has left in the database (not leased to any instance). @id bigint
SELECT remaining FROM api_keys WHERE id = @id
