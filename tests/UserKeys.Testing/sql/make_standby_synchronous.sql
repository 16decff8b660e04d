-- Test support (on a primary, as a superuser): from now on a commit waits until the standby named 'standby' has
-- flushed its WAL. Set only once that standby streams: before, every commit would wait for it.
ALTER SYSTEM SET synchronous_standby_names = 'standby'
