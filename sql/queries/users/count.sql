-- users/count: how many users exist (the "total" of offset paging).
-- Parameters: none
-- Index: none; counts every row (an index-only scan of users_pkey when the visibility map allows).
-- Seq scan allowed: a total over the whole table has to visit every row.
SELECT count(*)
FROM users
