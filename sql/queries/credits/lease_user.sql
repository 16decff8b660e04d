-- credits/lease_user: credits/lease for a user's own credits (users.remaining), which every verification of any key
-- of the user draws on beside the key's: refilled first when a UTC day or month began since the last refill, then a
-- share of what is left (userkeys_lease_units).
-- Returns the user, what was granted, what is left in the database, the credit epoch and refilled_at; no row when
-- the user does not exist or has no limit.
-- Writes only the consumption columns (leased, refilled_at, credit_epoch): not announced, not audited (0020). A
-- refill sets leased so that what is left is the refill's amount. Run it alone, outside a transaction.
-- Parameters: @id bigint (the user), @need bigint, @want bigint
-- Index: users_pkey.
WITH current_user_limits AS (
    SELECT u.id,
           u.refill_interval IS NOT NULL AND (u.refilled_at IS NULL OR u.refilled_at < period.started) AS due,
           period.started,
           u.remaining,
           u.leased,
           u.refill_amount,
           u.refilled_at,
           u.credit_epoch
    FROM users u
    CROSS JOIN LATERAL (
        SELECT date_trunc(CASE u.refill_interval WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC') AS started
    ) period
    WHERE u.id = @id AND u.remaining IS NOT NULL
    FOR UPDATE OF u
),
available AS (
    SELECT id,
           CASE WHEN due THEN refill_amount ELSE remaining - leased END AS units,
           CASE WHEN due THEN remaining - refill_amount ELSE leased END AS leased,
           CASE WHEN due THEN started ELSE refilled_at END AS refilled_at,
           CASE WHEN due THEN credit_epoch + 1 ELSE credit_epoch END AS credit_epoch
    FROM current_user_limits
),
granted AS (
    SELECT id, units, leased, refilled_at, credit_epoch, userkeys_lease_units(units, @need::bigint, @want::bigint) AS units_granted
    FROM available
)
UPDATE users u
SET leased       = g.leased + g.units_granted,
    refilled_at  = g.refilled_at,
    credit_epoch = g.credit_epoch
FROM granted g
WHERE u.id = g.id
RETURNING u.id AS owner_id, g.units_granted AS granted, u.remaining - u.leased AS remaining, u.credit_epoch AS epoch, u.refilled_at
