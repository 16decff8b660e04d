-- Test support: how many users have this email, case-insensitively. @email text
SELECT count(*) FROM users WHERE lower(email) = lower(@email)
