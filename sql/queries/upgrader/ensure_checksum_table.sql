-- upgrader/ensure_checksum_table: the upgrader's own record of what each applied script contained,
-- beside DbUp's journal (schemaversions). Created by the upgrader, like DbUp creates its journal.
-- Parameters: none
-- Index: none (DDL).
-- Plan: none (utility statement).
CREATE TABLE IF NOT EXISTS public.schemachecksums (
    scriptname  text        NOT NULL CONSTRAINT schemachecksums_pkey PRIMARY KEY,
    sha256      bytea       NOT NULL CONSTRAINT schemachecksums_sha256_length_check CHECK (octet_length(sha256) = 32),
    recorded_at timestamptz NOT NULL DEFAULT now()
)
