-- Test support: a reader's lock on api_keys (run inside a transaction and left open): any DDL on the table waits for it.
SELECT count(*) FROM api_keys
