-- users/list_first_page: the first keyset page, newest first.
-- The caller asks for one row more than the page size to learn whether a next page exists.
-- Parameters: @limit integer
-- Index: users_created_at_id_idx (forward scan, stops after @limit rows).
SELECT id, email, name, role, created_at
FROM users
ORDER BY created_at DESC, id DESC
LIMIT @limit
