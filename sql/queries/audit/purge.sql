-- audit/purge: the retention purge, one batch: deletes up to @batch_size of the oldest events when they are older
-- than @cutoff (never of the last day); returns how many, or -1 when another instance is purging right now.
-- audit_purge() (migration 0009) is the only way an event can be deleted.
-- Parameters: @cutoff timestamptz, @batch_size integer
-- Index: audit_events_pkey (the oldest @batch_size events by id), inside the function.
SELECT audit_purge(@cutoff, @batch_size)
