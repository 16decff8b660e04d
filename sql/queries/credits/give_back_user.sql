-- credits/give_back_user: credits/give_back for a user's own credits: return units an instance leased and did not
-- use, unless the user's credits were set outright since (another @epoch; those units are dropped).
-- Marks its statement userkeys.lease (run it alone, outside a transaction): not announced, not audited.
-- Parameters: @id bigint (the user), @units bigint, @epoch integer
-- Index: users_pkey.
WITH marker AS (
    SELECT set_config('userkeys.lease', 'on', true) AS lease
)
UPDATE users u
SET remaining = u.remaining + @units::bigint
FROM marker
WHERE u.id = @id AND u.credit_epoch = @epoch AND u.remaining IS NOT NULL AND marker.lease IS NOT NULL
