-- Test support: the request and trace ids of the newest event about a user. @user_id bigint
SELECT request_id, trace_id FROM audit_events WHERE user_id = @user_id ORDER BY id DESC LIMIT 1
