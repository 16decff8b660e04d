-- bench: the ids the seeded users got.
SELECT min(id) AS min_id, max(id) AS max_id FROM users
