-- pgbench limit for POST /v1/provision: the user, the lock for its key count, and its key in one transaction.
\set r random(1, 1000000000000000)
BEGIN;
{{users/insert}}
  @email = 'pgp-' || :client_id || '-' || :r || '@example.com'
  @name = NULL
  @role = 'member'
  \gset
{{users/lock_for_new_key}}
  @id = :id
{{keys/insert}}
  @user_id = (:id)::bigint
  @name = NULL
  @prefix = 'uk_pgbench'
  @token_hash = sha256(('pgp-' || :client_id || '-' || :r)::bytea)
  @expires_at = NULL
  @scopes = ARRAY['users:read','users:write','keys:read','keys:write','keys:verify']
  @max_keys = 100
COMMIT;
