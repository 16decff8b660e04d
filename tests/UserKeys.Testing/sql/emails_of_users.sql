-- Test support: the emails of some users. @ids bigint[]
SELECT lower(email) FROM users WHERE id = ANY(@ids)
