-- credits/available_user: credits/available for a user's own credits: what is left to lease (its next refill counted),
-- read without a lock or a write, at most once a second by an instance that found the user exhausted.
-- Parameters: @id bigint (the user)
-- Index: users_pkey.
SELECT CASE WHEN u.refill_interval IS NOT NULL
                 AND (u.refilled_at IS NULL
                      OR u.refilled_at < date_trunc(CASE u.refill_interval WHEN 'monthly' THEN 'month' ELSE 'day' END, now(), 'UTC'))
            THEN u.refill_amount
            ELSE u.remaining - u.leased END AS available
FROM users u
WHERE u.id = @id AND u.remaining IS NOT NULL
