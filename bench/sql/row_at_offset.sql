-- bench: the row at a given position of the listing order (for the deep-page cursor). @offset integer
SELECT created_at, id FROM users ORDER BY created_at DESC, id DESC OFFSET @offset LIMIT 1
