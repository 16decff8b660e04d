-- 0007_api_key_scopes: what one key may do on the API (../shared/API.md, the scope table). A request
-- may do what its user's role allows intersected with its key's scopes.
-- Existing keys get every scope (what they could do before). A constant default is stored once in the
-- catalog (no table rewrite, a brief lock). The check is NOT VALID: it holds for every row written from
-- now on without scanning the table under the lock; the existing rows carry the default, which passes.

ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL
        DEFAULT '{users:read,users:write,keys:read,keys:write,keys:verify,audit:read}';

ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (scopes <@ '{users:read,users:write,keys:read,keys:write,keys:verify,audit:read}'::text[]
               AND cardinality(scopes) <= 6) NOT VALID;
