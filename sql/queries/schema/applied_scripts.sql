-- schema/applied_scripts: the migration scripts DbUp's journal records as applied, in order, with when.
-- Read by readiness, the start-up schema check, bootstrap-admin and migrate (--status, --dry-run,
-- --script, and before applying) to compare the database with this build.
-- Parameters: none
-- Index: none; the journal holds one row per migration script (a handful of rows).
-- Seq scan allowed: DbUp's journal is tiny and read whole.
SELECT scriptname, applied
FROM public.schemaversions
ORDER BY schemaversionsid
