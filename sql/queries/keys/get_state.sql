-- keys/get_state: where one key of a user stands, to say why a roll or an update changed nothing (not found,
-- revoked, expired, already rolled, scopes not a narrowing, a refill left on an unlimited key, a holder enabling what
-- an admin disabled, lengthening an expiry or widening its permissions), judged by the database's clock; and the budget it draws on.
-- Parameters: @user_id bigint, @id bigint
-- Index: api_keys_user_id_idx (user_id, id).
SELECT expires_at, revoked_at, rolled_at, scopes, permissions, refill_interval, disabled_by_admin, COALESCE(budget_key_id, id) AS budget_key_id,
       now() AS now
FROM api_keys
WHERE id = @id AND user_id = @user_id
