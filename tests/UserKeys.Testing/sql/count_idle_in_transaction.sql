-- Test support: sessions of this database left idle inside a transaction (a leaked unit of work).
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'
