-- Test support: the statement that creates a login role (names and passwords cannot be parameters of CREATE ROLE:
-- quoted here by format). @role text, @password text
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', @role, @password)
