-- users/insert: create a user; returns the generated id and created_at.
-- Parameters: @email text, @name text (null), @role text ('admin' | 'member')
-- Index: users_email_lower_key enforces case-insensitive uniqueness (23505 -> email conflict).
INSERT INTO users (email, name, role)
VALUES (@email, @name, @role)
RETURNING id, created_at
