-- pgbench limit for POST /v1/provision: the user and its key in one transaction.
\set r random(1, 1000000000000000)
BEGIN;
{{users/insert}}
  @email = 'pgp-' || :client_id || '-' || :r || '@example.com'
  @name = NULL
  @role = 'member'
  \gset
{{keys/insert}}
  @user_id = :id
  @name = NULL
  @prefix = 'uk_pgbench'
  @token_hash = sha256(('pgp-' || :client_id || '-' || :r)::bytea)
  @expires_at = NULL
COMMIT;
