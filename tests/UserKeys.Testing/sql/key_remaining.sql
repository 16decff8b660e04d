-- Test support: the credits a key has left to lease (remaining less what instances leased of it, 0020). @id bigint
SELECT remaining - leased FROM api_keys WHERE id = @id
