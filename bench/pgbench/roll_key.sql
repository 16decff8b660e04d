-- pgbench limit for POST /v1/users/{id}/keys/{key_id}/roll: the statements the service runs in one transaction
-- (actor, lock the user for the key cap, roll the old key, lock its budget, insert the new one drawing on it), each client rolling secondary
-- keys of its own slice of users in turn (a per-client counter, pgbench -D n=0), never one key twice.
\set n :n + 1
\set o {{ROLL_PGBENCH_FROM}} + :client_id * {{ROLL_PGBENCH_SLICE}} + mod(:n, {{ROLL_PGBENCH_SLICE}})
\set r random(1, 1000000000000000)
BEGIN;
{{audit/set_actor}}
  @user_id = '1'
  @key_id = '1'
  @request_id = 'pgbench'
  @trace_id = ''
{{users/lock_for_new_key}}
  @id = ({{MIN_ID}} + :o)::bigint
{{keys/roll}}
  @user_id = ({{MIN_ID}} + :o)::bigint
  @id = ({{MIN_KEY_ID}} + 2 * :o + 1)::bigint
  @grace_seconds = 60
{{keys/lock_parent}}
  @id = ({{MIN_KEY_ID}} + 2 * :o + 1)::bigint
  \gset
{{keys/insert}}
  @user_id = ({{MIN_ID}} + :o)::bigint
  @name = 'secondary'
  @prefix = 'uk_pgbench'
  @token_hash = sha256(('pgr-' || (:client_id)::text || '-' || (:r)::text)::bytea)
  @expires_at = NULL
  @enabled = true
  @disabled_by_admin = false
  @scopes = string_to_array(translate('users;read,users;write,keys;read,keys;write,keys;verify,audit;read', ';', chr(58)), ',')
  @permissions = '{}'::text[]
  @meta = NULL
  @rolled_from_id = ({{MIN_KEY_ID}} + 2 * :o + 1)::bigint
  @derived_from_id = NULL::bigint
  @budget_key_id = (:budget_key_id)::bigint
  @remaining = NULL::bigint
  @refill_interval = NULL::text
  @refill_amount = NULL::bigint
  @rate_limits = '[]'
  @max_keys = 100
COMMIT;
