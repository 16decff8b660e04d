-- upgrader/checksums: every recorded script checksum.
-- Parameters: none
-- Index: none; one row per migration script (a handful), read whole.
-- Seq scan allowed: a table of a few rows, read whole.
SELECT scriptname, sha256
FROM public.schemachecksums
