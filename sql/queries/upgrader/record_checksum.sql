-- upgrader/record_checksum: record (or, on a deliberate repair, replace) an applied script's SHA-256.
-- Runs in the script's own transaction when the script is applied, so both land or neither.
-- Parameters: @name text, @sha256 bytea
-- Index: schemachecksums_pkey
INSERT INTO public.schemachecksums (scriptname, sha256)
VALUES (@name, @sha256)
ON CONFLICT (scriptname) DO UPDATE SET sha256 = EXCLUDED.sha256, recorded_at = now()
