-- 0003_create_service_secrets: secrets the service generates once and every instance shares,
-- so that they survive restarts and agree across instances without configuration.
-- cursor_hmac_key signs the opaque paging cursors (tamper-evident, not secret-bearing).

CREATE TABLE service_secrets (
    name        text        NOT NULL,
    value       bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT service_secrets_pkey PRIMARY KEY (name),
    CONSTRAINT service_secrets_value_length_check CHECK (octet_length(value) >= 32)
);

-- 48 bytes from gen_random_uuid(), which draws on PostgreSQL's strong random source
-- (366 random bits: three version-4 UUIDs).
INSERT INTO service_secrets (name, value)
VALUES ('cursor_hmac_key',
        decode(replace(gen_random_uuid()::text || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'));
