-- Test support: how many keys a user has, whoever may see them. @user_id bigint
SELECT count(*) FROM api_keys WHERE user_id = @user_id
