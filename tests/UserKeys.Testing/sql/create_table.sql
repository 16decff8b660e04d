-- Test support: create a table by name, to make a migration collide with it. {table}
CREATE TABLE {table} (id int)
