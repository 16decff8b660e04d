-- Test support: every audit event row as text, to search for what must never be in it (tokens, hashes).
SELECT string_agg(a::text, E'\n') FROM audit_events a
