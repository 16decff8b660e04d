-- pgbench limit for GET /v1/users?limit=50: the first keyset page (one row more, to know if a next page exists).
{{users/list_first_page}}
  @limit = 51
