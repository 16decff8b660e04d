-- credits/lease_user: credits/lease for a user's own credits (users.remaining), which every verification of any key
-- of the user draws on beside the key's: refilled first when a UTC day or month began since the last refill, then a
-- share of what is left (userkeys_lease_units).
-- Returns the user, what was granted, what is left in the database, the credit epoch and refilled_at; no row when
-- the user does not exist or has no limit.
-- Marks its statement userkeys.lease (run it alone, outside a transaction): not announced, not audited.
-- Parameters: @id bigint (the user), @need bigint, @want bigint
-- Index: users_pkey.
WITH marker AS (
    SELECT set_config('userkeys.lease', 'on', true) AS lease
),
current_user_limits AS (
    SELECT u.id,
           u.refill_interval IS NOT NULL AND (u.refilled_at IS NULL OR u.refilled_at < period.started) AS due,
           period.started,
           u.remaining,
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
           CASE WHEN due THEN refill_amount ELSE remaining END AS units,
           CASE WHEN due THEN started ELSE refilled_at END AS refilled_at,
           CASE WHEN due THEN credit_epoch + 1 ELSE credit_epoch END AS credit_epoch
    FROM current_user_limits
),
granted AS (
    SELECT id, units, refilled_at, credit_epoch, userkeys_lease_units(units, @need::bigint, @want::bigint) AS units_granted
    FROM available
)
UPDATE users u
SET remaining    = g.units - g.units_granted,
    refilled_at  = g.refilled_at,
    credit_epoch = g.credit_epoch
FROM granted g, marker
WHERE u.id = g.id AND marker.lease IS NOT NULL
RETURNING u.id AS owner_id, g.units_granted AS granted, u.remaining, u.credit_epoch AS epoch, u.refilled_at
