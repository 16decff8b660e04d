-- pgbench limit for POST /v1/keys/verify: the key-with-user lookup by token hash.
{{keys/get_with_user_by_token_hash}}
  @token_hash = '\x{{TOKEN_HASH}}'::bytea
