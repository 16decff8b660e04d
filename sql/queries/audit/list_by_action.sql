-- audit/list_by_action: a page of the events of one action, newest first (keyset: before @before_id).
-- Parameters: @action text, @before_id bigint, @limit integer
-- Index: audit_events_action_idx (action, id), read backwards from (@action, @before_id).
-- Plan cache: the inner LIMIT 101 is the largest page (AuditListQuery.MaxLimit, 100) plus one. With it the
-- generic plan knows the page is small and costs what a custom plan costs, so PostgreSQL keeps it;
-- with @limit alone it guesses 10% of the events and plans the statement again on every call.
SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes
FROM (SELECT id, at, action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes
      FROM audit_events
      WHERE action = @action
        AND id < @before_id
      ORDER BY id DESC
      LIMIT 101) capped
ORDER BY id DESC
LIMIT @limit
