-- pgbench limit for POST /v1/provision: the user, the lock for its key count, and its key in one transaction.
-- (pgbench reads ':name' as a variable even inside quotes: the scopes' colons are made with chr(58).)
\set r random(1, 1000000000000000)
BEGIN;
{{users/insert}}
  @email = 'pgp-' || :client_id || '-' || :r || '@example.com'
  @name = NULL
  @role = 'member'
  @remaining = NULL::bigint
  @refill_interval = NULL::text
  @refill_amount = NULL::bigint
  @rate_limits = '[]'
  \gset
{{users/lock_for_new_key}}
  @id = :id
{{keys/insert}}
  @user_id = (:id)::bigint
  @name = NULL
  @prefix = 'uk_pgbench'
  @token_hash = sha256(('pgp-' || (:client_id)::text || '-' || (:r)::text)::bytea)
  @expires_at = NULL
  @enabled = true
  @disabled_by_admin = false
  @scopes = string_to_array(translate('users;read,users;write,keys;read,keys;write,keys;verify', ';', chr(58)), ',')
  @permissions = '{}'::text[]
  @meta = NULL
  @rolled_from_id = NULL::bigint
  @derived_from_id = NULL::bigint
  @budget_key_id = NULL::bigint
  @remaining = NULL::bigint
  @refill_interval = NULL::text
  @refill_amount = NULL::bigint
  @rate_limits = '[]'
  @max_keys = 100
COMMIT;
