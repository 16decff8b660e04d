-- keys/delete: delete a key of a user.
-- Parameters: @user_id bigint, @id bigint
-- Index: api_keys_user_id_idx (user_id, id): both columns are in the condition (api_keys_pkey would serve too).
DELETE FROM api_keys
WHERE id = @id AND user_id = @user_id
