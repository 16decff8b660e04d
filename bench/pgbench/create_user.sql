-- pgbench limit for POST /v1/users: the same INSERT, with a unique email, on its own.
\set r random(1, 1000000000000000)
{{users/insert}}
  @email = 'pgb-' || :client_id || '-' || :r || '@example.com'
  @name = NULL
  @role = 'member'
  @remaining = NULL::bigint
  @refill_interval = NULL::text
  @refill_amount = NULL::bigint
  @rate_limits = '[]'
