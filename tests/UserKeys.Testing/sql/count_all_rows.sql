-- Test support: how many rows the service's tables hold (audit events included), to prove rejected requests wrote nothing.
SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM api_keys) + (SELECT count(*) FROM audit_events)
