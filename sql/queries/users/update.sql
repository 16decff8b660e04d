-- users/update: change email, name and/or role in one statement, so that two
-- concurrent partial updates cannot overwrite each other's fields.
-- A null @email or @role keeps the current value; @name is applied only when
-- @set_name is true (so a name can be cleared to null).
-- Parameters: @id bigint, @email text (null), @set_name boolean, @name text (null), @role text (null)
-- Index: users_pkey; users_email_lower_key enforces uniqueness (23505 -> email conflict).
UPDATE users
SET email = COALESCE(@email, email),
    name  = CASE WHEN @set_name THEN @name ELSE name END,
    role  = COALESCE(@role, role)
WHERE id = @id
RETURNING id, email, name, role, created_at
