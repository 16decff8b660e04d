-- Test support: hold a lock that makes any migration touching users wait (run inside a transaction).
LOCK TABLE users IN ACCESS EXCLUSIVE MODE
