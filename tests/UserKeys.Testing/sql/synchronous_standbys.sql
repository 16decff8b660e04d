-- Test support (on a primary): how many standbys named @application_name (text) are synchronous now.
SELECT count(*) FROM pg_stat_replication WHERE application_name = @application_name AND sync_state = 'sync'
