-- Faults: the user a 201 named exists with its email, and so does the key it was given.
-- @user_id bigint, @key_id bigint, @email text
SELECT count(*) FROM users u JOIN api_keys k ON k.user_id = u.id WHERE u.id = @user_id AND k.id = @key_id AND u.email = @email
