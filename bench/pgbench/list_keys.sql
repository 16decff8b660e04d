-- pgbench limit for GET /v1/users?limit=50&include=keys: the page and its users' keys in one snapshot.
BEGIN ISOLATION LEVEL REPEATABLE READ;
{{session/set_transaction_read_only}}
{{users/list_first_page}}
  @limit = 51
{{keys/list_by_users}}
  @user_ids = '{{FIRST_PAGE_IDS}}'::bigint[]
ROLLBACK;
