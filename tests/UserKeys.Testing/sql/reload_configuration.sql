-- Test support (as a superuser): apply changed settings (postgresql.conf, ALTER SYSTEM) without a restart.
SELECT pg_reload_conf()
