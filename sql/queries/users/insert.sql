-- users/insert: create a user, with usage limits when an admin sets them; returns the user as stored.
-- A user with a refill counts as refilled for the period it is created in.
-- Parameters: @email text, @name text (null), @role text ('admin' | 'member'), @remaining bigint (null: unlimited),
--             @refill_interval text (null, 'daily', 'monthly'), @refill_amount bigint (null), @rate_limits text (a JSON array)
-- Index: users_email_lower_key enforces case-insensitive uniqueness (23505 -> email conflict).
INSERT INTO users (email, name, role, remaining, refill_interval, refill_amount, refilled_at, rate_limits)
VALUES (@email, @name, @role, @remaining, @refill_interval, @refill_amount,
        CASE WHEN @refill_interval::text IS NOT NULL
             THEN date_trunc(CASE @refill_interval::text WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC') END,
        @rate_limits::jsonb)
RETURNING id, email, name, role, created_at, remaining - leased AS remaining, refill_interval, refill_amount, refilled_at, rate_limits
