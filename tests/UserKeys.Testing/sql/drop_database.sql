-- Test support: drop a test database, disconnecting whoever is still connected.
DROP DATABASE IF EXISTS {database} WITH (FORCE)
