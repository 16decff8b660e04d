-- Faults: how many of these emails have a user. @emails text[]
SELECT count(*) FROM users WHERE email = ANY(@emails)
