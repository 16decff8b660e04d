-- Test support: drop a role the test created (after the databases it had rights in are gone). {role}
DROP ROLE IF EXISTS {role}
