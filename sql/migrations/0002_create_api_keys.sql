-- 0002_create_api_keys: API keys, stored as the SHA-256 of the token, never the token.

CREATE TABLE api_keys (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    user_id       bigint      NOT NULL,
    name          text        NULL,
    prefix        text        NOT NULL,
    token_hash    bytea       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NULL,
    revoked_at    timestamptz NULL,
    last_used_at  timestamptz NULL,
    CONSTRAINT api_keys_pkey PRIMARY KEY (id),
    CONSTRAINT api_keys_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_token_hash_key UNIQUE (token_hash),
    CONSTRAINT api_keys_token_hash_length_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_keys_name_length_check CHECK (char_length(name) <= 120),
    CONSTRAINT api_keys_prefix_length_check CHECK (char_length(prefix) BETWEEN 4 AND 32)
);

-- Serves the foreign key (cascade deletes) and the per-user listings ordered by id,
-- for one user and for a page of users (user_id = ANY(...)).
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, id);
