-- pgbench limit for the deep offset page: what the service runs for ?limit=50&offset=DEEP_OFFSET,
-- the total and the page in one read-only snapshot.
BEGIN ISOLATION LEVEL REPEATABLE READ;
{{session/set_transaction_read_only}}
{{users/count}}
{{users/list_page_by_offset}}
  @limit = 50
  @offset = {{DEEP_OFFSET}}
ROLLBACK;
