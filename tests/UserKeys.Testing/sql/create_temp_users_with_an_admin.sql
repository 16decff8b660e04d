-- Test support: a temporary users table in this session holding one admin (the last-admin guard must not read it).
CREATE TEMP TABLE users (id bigint, role text);
INSERT INTO pg_temp.users VALUES (0, 'admin')
