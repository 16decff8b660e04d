-- credits/give_back: return units an instance leased and did not use (it went idle, the key changed, or the
-- instance is stopping), unless the key's credits were set outright since (another @epoch: an admin's PATCH or a
-- refill; those units belonged to the old budget and are dropped).
-- Writes only leased: not announced, not audited (0020). @operation_id makes it apply once: a retry after an
-- ambiguous failure finds its id in applied_operations and changes nothing. Run it alone, outside a transaction.
-- Parameters: @id bigint, @units bigint, @epoch integer, @operation_id uuid
-- Index: applied_operations_pkey (the conflict target), api_keys_pkey.
WITH applied AS (
    INSERT INTO applied_operations (id)
    VALUES (@operation_id)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
UPDATE api_keys k
SET leased = k.leased - @units::bigint
FROM applied
WHERE k.id = @id AND k.credit_epoch = @epoch AND k.remaining IS NOT NULL
