-- Test support: clone a migrated template database (fast: a file copy, no migrations to run).
CREATE DATABASE {database} TEMPLATE {template}
