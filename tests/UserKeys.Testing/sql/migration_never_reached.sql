-- Test support: a migration after a failing one; it must never run.
CREATE TABLE never_reached (id int);
