-- Test support: one retention purge batch, as the service runs it. @cutoff timestamptz, @batch_size integer
SELECT audit_purge(@cutoff, @batch_size)
