-- users/find_by_email: one user by email, case-insensitively (0 or 1 row).
-- Parameters: @email text
-- Index: users_email_lower_key (the expression lower(email) must match the index).
SELECT id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
FROM users
WHERE lower(email) = lower(@email)
