-- Test support: take the retention purge's lock in this transaction, as a purging instance holds it.
SELECT pg_advisory_xact_lock(hashtextextended('userkeys.audit_purge', 0))
