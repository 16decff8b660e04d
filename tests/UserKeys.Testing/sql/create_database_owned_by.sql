-- Test support: create an empty database owned by a role. {database} and {owner} are quoted identifiers.
CREATE DATABASE {database} OWNER {owner}
