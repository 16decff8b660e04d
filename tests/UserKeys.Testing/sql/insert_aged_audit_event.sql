-- Test support: an audit event as if recorded @days_ago days ago (for the retention purge). Returns its id.
-- @days_ago integer, @user_id bigint
INSERT INTO audit_events (at, action, db_role, user_id, changes)
VALUES (now() - make_interval(days => @days_ago), 'user.updated', current_user, @user_id, '{"name": ["a", "b"]}')
RETURNING id
