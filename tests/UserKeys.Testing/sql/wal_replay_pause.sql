-- Test support (on a standby, as a superuser): stop applying WAL; it is still received. Reads see the state as of now.
SELECT pg_wal_replay_pause()::text
