-- credits/lease: hand this instance a share of a budget's credits (a key with a budget of its own: every key that
-- draws on it leases here), refilling them first when a UTC day or month began since the last refill (exactly once:
-- the row lock serialises every lease of the key, and READ COMMITTED re-reads a row a concurrent lease changed).
-- Grants nothing when fewer than @need are left (a refused verification takes nothing), else at least @need and at
-- most @want or an eighth of what is left, whichever is more (userkeys_lease_units): big leases while plenty is left,
-- single units near the end, so the units instances hold unused stay few.
-- Returns the key whose credits were leased, what was granted, what is left in the database, the credit epoch (a
-- give-back must name both) and refilled_at; no row when the key does not exist or has no limit.
-- Writes only the consumption columns (leased, refilled_at, credit_epoch): not announced, not audited (0020). A
-- refill sets leased so that what is left is the refill's amount. Run it alone, outside a transaction.
-- Parameters: @id bigint (the budget's key), @need bigint, @want bigint
-- Index: api_keys_pkey.
WITH current_key AS (
    SELECT k.id,
           k.refill_interval IS NOT NULL AND (k.refilled_at IS NULL OR k.refilled_at < period.started) AS due,
           period.started,
           k.remaining,
           k.leased,
           k.refill_amount,
           k.refilled_at,
           k.credit_epoch
    FROM api_keys k
    CROSS JOIN LATERAL (
        SELECT date_trunc(CASE k.refill_interval WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC') AS started
    ) period
    WHERE k.id = @id AND k.remaining IS NOT NULL
    FOR UPDATE OF k
),
available AS (
    SELECT id,
           CASE WHEN due THEN refill_amount ELSE remaining - leased END AS units,
           CASE WHEN due THEN remaining - refill_amount ELSE leased END AS leased,
           CASE WHEN due THEN started ELSE refilled_at END AS refilled_at,
           CASE WHEN due THEN credit_epoch + 1 ELSE credit_epoch END AS credit_epoch
    FROM current_key
),
granted AS (
    SELECT id, units, leased, refilled_at, credit_epoch, userkeys_lease_units(units, @need::bigint, @want::bigint) AS units_granted
    FROM available
)
UPDATE api_keys k
SET leased       = g.leased + g.units_granted,
    refilled_at  = g.refilled_at,
    credit_epoch = g.credit_epoch
FROM granted g
WHERE k.id = g.id
RETURNING k.id AS owner_id, g.units_granted AS granted, k.remaining - k.leased AS remaining, k.credit_epoch AS epoch, k.refilled_at
