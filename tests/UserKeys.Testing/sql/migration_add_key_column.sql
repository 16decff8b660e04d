-- Test support: a migration that needs an ACCESS EXCLUSIVE lock on api_keys for a moment.
ALTER TABLE api_keys ADD COLUMN lock_test_note text
