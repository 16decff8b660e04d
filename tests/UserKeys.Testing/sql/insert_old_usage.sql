-- Test support: a usage bucket @days_ago days old for key @key_id (for the retention purge). @key_id bigint, @days_ago integer
INSERT INTO key_usage (key_id, hour, valid)
VALUES (@key_id, date_trunc('hour', now() - make_interval(days => @days_ago), 'UTC'), 1)
