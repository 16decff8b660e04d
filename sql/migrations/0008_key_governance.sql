-- 0008_key_governance: what relying services need from a key besides "valid or not" (../shared/API.md, "Key"):
-- enabled (false refuses the key until enabled again), permissions (opaque strings verify returns), meta (an
-- opaque JSON object verify returns), and the roll: rolled_from_id on the new key names the key it replaced,
-- rolled_at on the old key says it was rolled (a key is rolled at most once).
--
-- Safe on a live database: every column is nullable or has a constant default, which PostgreSQL stores in the
-- catalog: no rewrite of api_keys, and the ACCESS EXCLUSIVE lock is held only for the catalog change (the
-- upgrader's lock_timeout keeps it from queueing live traffic behind it). The checks are NOT VALID: they hold
-- for every row written from now on without a scan under the lock; existing rows carry the defaults, which pass.
-- rolled_from_id has no foreign key: it is history, and stays when the old key is deleted.

ALTER TABLE api_keys
    ADD COLUMN enabled        boolean     NOT NULL DEFAULT true,
    ADD COLUMN permissions    text[]      NOT NULL DEFAULT '{}',
    ADD COLUMN meta           jsonb       NULL,
    ADD COLUMN rolled_from_id bigint      NULL,
    ADD COLUMN rolled_at      timestamptz NULL;

-- The service enforces the contract's limits (50 permissions of 1..100 characters of A-Z a-z 0-9 . _ : * -;
-- meta an object of at most 4 KiB serialized compactly); the database refuses anything beyond them, also from
-- plain SQL. jsonb's text form spaces its separators, so its bound is looser than the service's.
CREATE FUNCTION userkeys_permissions_valid(permissions text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN cardinality(permissions) <= 50 AND array_position(permissions, NULL) IS NULL
       AND (SELECT coalesce(bool_and(permission ~ '^[A-Za-z0-9._:*-]{1,100}$'), true) FROM unnest(permissions) AS permission);

ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_permissions_check CHECK (userkeys_permissions_valid(permissions)) NOT VALID,
    ADD CONSTRAINT api_keys_meta_check
        CHECK (meta IS NULL OR (jsonb_typeof(meta) = 'object' AND octet_length(meta::text) <= 8192)) NOT VALID;
