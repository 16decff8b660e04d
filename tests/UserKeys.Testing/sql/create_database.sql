-- Test support: create an empty database. {database} is a generated, quoted identifier.
CREATE DATABASE {database}
