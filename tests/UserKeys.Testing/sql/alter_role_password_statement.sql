-- Test support: the statement that sets a login role's password (names and passwords cannot be parameters of ALTER
-- ROLE: quoted here by format). @role text, @password text
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L', @role, @password)
