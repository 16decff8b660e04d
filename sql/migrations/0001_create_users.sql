-- 0001_create_users: the users table.
-- Constraint and index names are part of the contract: the data layer maps
-- unique violations to domain conflicts by these names.

CREATE TABLE users (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    email       text        NOT NULL,
    name        text        NULL,
    role        text        NOT NULL DEFAULT 'member',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_length_check CHECK (char_length(email) BETWEEN 3 AND 255),
    CONSTRAINT users_name_length_check CHECK (char_length(name) <= 120),
    CONSTRAINT users_role_check CHECK (role IN ('admin', 'member'))
);

-- Emails are unique case-insensitively: Ada@Example.com conflicts with ada@example.com.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- Serves the listing order (created_at DESC, id DESC) for keyset and offset pages.
CREATE INDEX users_created_at_id_idx ON users (created_at DESC, id DESC);
