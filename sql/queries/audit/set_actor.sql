-- audit/set_actor: names who acts in this transaction, for the audit triggers (migrations 0009, 0020): the calling
-- user and key, the service's own id for the request, and the caller's trace id when tracing is on.
-- Transaction-local (set_config's third argument): gone at COMMIT or ROLLBACK, so a pooled connection carries
-- nothing into its next transaction. Empty text: unknown.
-- Parameters: @user_id text, @key_id text, @request_id text, @trace_id text
-- Index: none (no table).
-- Plan: none (four function calls, no table)
SELECT set_config('userkeys.actor_user_id', @user_id, true),
       set_config('userkeys.actor_key_id', @key_id, true),
       set_config('userkeys.request_id', @request_id, true),
       set_config('userkeys.trace_id', @trace_id, true)
