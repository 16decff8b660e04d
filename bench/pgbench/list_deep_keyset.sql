-- pgbench limit for the deep keyset page: the page after the row at DEEP_OFFSET.
{{users/list_page_after}}
  @after_created_at = '{{DEEP_CREATED_AT}}'::timestamptz
  @after_id = {{DEEP_ID}}
  @limit = 51
