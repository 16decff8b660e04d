-- Test support (on a primary): how many standbys named @application_name (text) stream from it now.
SELECT count(*) FROM pg_stat_replication WHERE application_name = @application_name AND state = 'streaming'
