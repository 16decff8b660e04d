-- keys/delete: delete a key of a user.
-- Parameters: @user_id bigint, @id bigint
-- Index: api_keys_pkey
DELETE FROM api_keys
WHERE id = @id AND user_id = @user_id
