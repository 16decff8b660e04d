-- Test support: whether a table (or other relation) exists. @name text
SELECT to_regclass(@name) IS NOT NULL
