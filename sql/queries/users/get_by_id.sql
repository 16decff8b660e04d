-- users/get_by_id: one user by id.
-- Parameters: @id bigint
-- Index: users_pkey
SELECT id, email, name, role, created_at
FROM users
WHERE id = @id
