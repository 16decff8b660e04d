-- users/list_page_by_offset: an offset page, newest first. Cost grows with @offset:
-- the index scan walks past every skipped row (see the README on pagination).
-- Parameters: @limit integer, @offset integer
-- Index: users_created_at_id_idx
SELECT id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM users
ORDER BY created_at DESC, id DESC
LIMIT @limit OFFSET @offset
