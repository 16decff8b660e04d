-- Test support: rename a key the way a DBA would, in plain SQL (no service code, no actor set). @id bigint, @name text
UPDATE api_keys SET name = @name WHERE id = @id
