-- credits/give_back_user: credits/give_back for a user's own credits: return units an instance leased and did not
-- use, unless the user's credits were set outright since (another @epoch; those units are dropped).
-- Writes only leased: not announced, not audited (0020). @operation_id makes it apply once: a retry after an
-- ambiguous failure finds its id in applied_operations and changes nothing. Run it alone, outside a transaction.
-- Parameters: @id bigint (the user), @units bigint, @epoch integer, @operation_id uuid
-- Index: applied_operations_pkey (the conflict target), users_pkey.
WITH applied AS (
    INSERT INTO applied_operations (id)
    VALUES (@operation_id)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
)
UPDATE users u
SET leased = u.leased - @units::bigint
FROM applied
WHERE u.id = @id AND u.credit_epoch = @epoch AND u.remaining IS NOT NULL
