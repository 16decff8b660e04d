-- keys/count_by_user: how many keys a user holds (revoked and expired ones included until deleted). bootstrap-admin
-- --promote reports it: every one of them becomes an admin's key.
-- Parameters: @user_id bigint
-- Index: api_keys_user_id_idx (index-only).
SELECT count(*)
FROM api_keys
WHERE user_id = @user_id
