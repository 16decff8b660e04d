-- schema/applied_scripts_with_time: the journal, in the order scripts were applied, with when (migrate --status).
-- Parameters: none
-- Index: none; one row per migration script (a handful), read whole.
-- Seq scan allowed: DbUp's journal is tiny and read whole.
SELECT scriptname, applied
FROM public.schemaversions
ORDER BY schemaversionsid
