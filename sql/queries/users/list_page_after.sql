-- users/list_page_after: the keyset page after a cursor (created_at, id), newest first.
-- The row comparison breaks ties on created_at by id, so every row is seen exactly once.
-- Parameters: @after_created_at timestamptz, @after_id bigint, @limit integer
-- Index: users_created_at_id_idx (index condition on the row comparison, stops after @limit rows).
-- Plan cache: the inner LIMIT 101 is the largest page (UserListQuery.MaxLimit, 100) plus one. With it the
-- generic plan knows the page is small and costs what a custom plan costs, so PostgreSQL keeps it;
-- with @limit alone it guesses 10% of users and plans the statement again on every call.
SELECT id, email, name, role, created_at, remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM (SELECT id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
      FROM users
      WHERE (created_at, id) < (@after_created_at, @after_id)
      ORDER BY created_at DESC, id DESC
      LIMIT 101) capped
ORDER BY created_at DESC, id DESC
LIMIT @limit
