-- schema/applied_scripts: the migration scripts DbUp's journal records as applied.
-- Used by readiness and by the start-up schema check to compare the database with this build.
-- Parameters: none
-- Index: none; the journal holds one row per migration script (a handful of rows).
-- Seq scan allowed: the journal is tiny and read whole.
SELECT scriptname
FROM schemaversions
