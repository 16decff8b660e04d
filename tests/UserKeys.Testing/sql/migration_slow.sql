-- Test support: a slow migration, so that two upgraders surely overlap.
SELECT pg_sleep(1);
