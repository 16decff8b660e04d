-- bench: the ids the seeded keys got, and the users of the first and the last (the scenarios compute a user's
-- keys as min_key_id + 2 * (user - min_user) + k, k = 0 primary, 1 secondary: checked here).
SELECT min(id) AS min_key_id, max(id) AS max_key_id, count(*) AS keys,
       (SELECT user_id FROM api_keys ORDER BY id LIMIT 1) AS first_user,
       (SELECT user_id FROM api_keys ORDER BY id DESC LIMIT 1) AS last_user
FROM api_keys
