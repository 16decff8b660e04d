-- Test support: the session lock the test processes take, one at a time, to create or update the tests' service role
-- (two processes at once would race on CREATE ROLE or on the same pg_authid row). Released when the session ends.
SELECT pg_advisory_lock(hashtextextended('userkeys.test_service_role', 0))::text
