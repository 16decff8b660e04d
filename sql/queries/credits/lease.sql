-- credits/lease: hand this instance a share of a budget's credits (a key with a budget of its own: every key that
-- draws on it leases here), refilling them first when a UTC day or month began since the last refill (exactly once:
-- the row lock serialises every lease of the key, and READ COMMITTED re-reads a row a concurrent lease changed).
-- Grants nothing when fewer than @need are left (a refused verification takes nothing), else at least @need and at
-- most @want or an eighth of what is left, whichever is more (userkeys_lease_units): big leases while plenty is left,
-- single units near the end, so the units instances hold unused stay few.
-- Returns the key whose credits were leased, what was granted, what is left in the database, the credit epoch (a
-- give-back must name both) and refilled_at; no row when the key does not exist or has no limit.
-- Marks its statement userkeys.lease (run it alone, outside a transaction): not announced, not audited.
-- Parameters: @id bigint (the budget's key), @need bigint, @want bigint
-- Index: api_keys_pkey.
WITH marker AS (
    SELECT set_config('userkeys.lease', 'on', true) AS lease
),
current_key AS (
    SELECT k.id,
           k.refill_interval IS NOT NULL AND (k.refilled_at IS NULL OR k.refilled_at < period.started) AS due,
           period.started,
           k.remaining,
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
           CASE WHEN due THEN refill_amount ELSE remaining END AS units,
           CASE WHEN due THEN started ELSE refilled_at END AS refilled_at,
           CASE WHEN due THEN credit_epoch + 1 ELSE credit_epoch END AS credit_epoch
    FROM current_key
),
granted AS (
    SELECT id, units, refilled_at, credit_epoch, userkeys_lease_units(units, @need::bigint, @want::bigint) AS units_granted
    FROM available
)
UPDATE api_keys k
SET remaining    = g.units - g.units_granted,
    refilled_at  = g.refilled_at,
    credit_epoch = g.credit_epoch
FROM granted g, marker
WHERE k.id = g.id AND marker.lease IS NOT NULL
RETURNING k.id AS owner_id, g.units_granted AS granted, k.remaining, k.credit_epoch AS epoch, k.refilled_at
