-- pgbench limit for GET /v1/users?limit=50&include=keys: the page joined with its users' keys, one statement.
{{users/list_first_page_with_keys}}
  @limit = 51
