-- users/delete: delete a user; its keys go with it (api_keys_user_id_fkey ON DELETE CASCADE).
-- Parameters: @id bigint
-- Index: users_pkey; api_keys_user_id_idx serves the cascade.
DELETE FROM users
WHERE id = @id
