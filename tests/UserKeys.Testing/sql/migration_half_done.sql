-- Test support: a migration that fails half way (the table must not survive the rollback).
CREATE TABLE half_done (id int);
SELECT * FROM no_such_table;
