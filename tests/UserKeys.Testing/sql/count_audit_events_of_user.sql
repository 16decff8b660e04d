-- Test support: how many audit events name a user, by action. @user_id bigint, @action text
SELECT count(*) FROM public.audit_events WHERE user_id = @user_id AND action = @action
