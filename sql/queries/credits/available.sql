-- credits/available: how many credits a budget's key has left to lease (its next refill counted when a UTC day or
-- month began since the last), read without a lock or a write: an instance that found the key exhausted asks this at
-- most once a second before it leases again, so refused verifications of an exhausted key write nothing.
-- Parameters: @id bigint (the budget's key)
-- Index: api_keys_pkey.
SELECT CASE WHEN k.refill_interval IS NOT NULL
                 AND (k.refilled_at IS NULL
                      OR k.refilled_at < date_trunc(CASE k.refill_interval WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC'))
            THEN k.refill_amount
            ELSE k.remaining - k.leased END AS available
FROM api_keys k
WHERE k.id = @id AND k.remaining IS NOT NULL
