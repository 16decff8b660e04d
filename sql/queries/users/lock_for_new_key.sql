-- users/lock_for_new_key: lock a user's row before issuing it a key, so that concurrent issues for
-- one user run one after another and the key cap (keys/insert) is counted exactly. FOR NO KEY UPDATE
-- does not block the foreign-key checks of other inserts, nor readers.
-- Returns the id, or no row when the user does not exist.
-- Parameters: @id bigint
-- Index: users_pkey
SELECT id
FROM users
WHERE id = @id
FOR NO KEY UPDATE
