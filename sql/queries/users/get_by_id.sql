-- users/get_by_id: one user by id.
-- Parameters: @id bigint
-- Index: users_pkey
SELECT id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM users
WHERE id = @id
