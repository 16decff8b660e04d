-- Test support: an admin made in plain SQL; returns its id. @email text
INSERT INTO users (email, role) VALUES (@email, 'admin') RETURNING id
