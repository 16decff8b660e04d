-- pgbench limit for PATCH /v1/users/{id}/keys/{key_id} (a new name for a random seeded secondary key): the
-- actor for the audit triggers, then the one UPDATE, in one transaction, as the service runs them.
\set o random(0, {{USERS}} - 1)
\set r random(1, 1000000000000000)
BEGIN;
{{audit/set_actor}}
  @user_id = '1'
  @key_id = '1'
  @request_id = 'pgbench'
  @trace_id = ''
{{keys/update}}
  @user_id = ({{MIN_ID}} + :o)::bigint
  @id = ({{MIN_KEY_ID}} + 2 * :o + 1)::bigint
  @holder = false
  @set_name = true
  @name = 'pgb-' || :client_id || '-' || :r
  @enabled = NULL::boolean
  @scopes = NULL::text[]
  @permissions = NULL::text[]
  @set_meta = false
  @meta = NULL
  @set_expires_at = false
  @expires_at = NULL::timestamptz
  @set_remaining = false
  @remaining = NULL::bigint
  @set_refill = false
  @refill_interval = NULL::text
  @refill_amount = NULL::bigint
  @rate_limits = NULL::text
COMMIT;
