-- Test support (on a standby, as a superuser): apply WAL again.
SELECT pg_wal_replay_resume()::text
