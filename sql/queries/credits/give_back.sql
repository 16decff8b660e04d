-- credits/give_back: return units an instance leased and did not use (it went idle, the key changed, or the
-- instance is stopping), unless the key's credits were set outright since (another @epoch: an admin's PATCH or a
-- refill; those units belonged to the old budget and are dropped).
-- Marks its statement userkeys.lease (run it alone, outside a transaction): not announced, not audited.
-- Parameters: @id bigint, @units bigint, @epoch integer
-- Index: api_keys_pkey.
WITH marker AS (
    SELECT set_config('userkeys.lease', 'on', true) AS lease
)
UPDATE api_keys k
SET remaining = k.remaining + @units::bigint
FROM marker
WHERE k.id = @id AND k.credit_epoch = @epoch AND k.remaining IS NOT NULL AND marker.lease IS NOT NULL
