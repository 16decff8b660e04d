-- users/list_first_page: the first keyset page, newest first.
-- The caller asks for one row more than the page size to learn whether a next page exists.
-- Parameters: @limit integer
-- Index: users_created_at_id_idx (forward scan, stops after @limit rows).
-- Plan cache: the inner LIMIT 101 is the largest page (UserListQuery.MaxLimit, 100) plus one. With it the
-- generic plan knows the page is small and costs what a custom plan costs, so PostgreSQL keeps it;
-- with @limit alone it guesses 10% of users and plans the statement again on every call.
SELECT id, email, name, role, created_at, remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM (SELECT id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
      FROM users
      ORDER BY created_at DESC, id DESC
      LIMIT 101) capped
ORDER BY created_at DESC, id DESC
LIMIT @limit
