-- 0009_audit_events: every change to users and keys, recorded by the database itself in the transaction that
-- makes it (../shared/API.md, "Audit event"), also a change made directly in SQL.
--
-- Who: the service names the actor of its transaction with transaction-local settings (sql/queries/audit/
-- set_actor.sql): userkeys.actor_user_id, userkeys.actor_key_id, userkeys.request_id. A change made without
-- them (a DBA, a script) has a null actor; db_role always names the database role that made it.
-- What: the changed columns as [before, after] (a new row: its non-null columns); never token_hash, never last_used_at (use, not a change; it
-- is written at most once a minute by authentication).
-- Append-only for every role: UPDATE and TRUNCATE of audit_events fail; DELETE fails except inside
-- audit_purge(), the retention purge, which only ever deletes events older than a day.
-- Events reference no row: they survive the deletion of their user and key.

CREATE TABLE audit_events (
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    at             timestamptz NOT NULL DEFAULT now(),
    action         text        NOT NULL,
    actor_user_id  bigint      NULL,
    actor_key_id   bigint      NULL,
    db_role        text        NOT NULL,
    user_id        bigint      NULL,
    key_id         bigint      NULL,
    request_id     text        NULL,
    changes        jsonb       NOT NULL,
    CONSTRAINT audit_events_pkey PRIMARY KEY (id),
    CONSTRAINT audit_events_action_check CHECK (action IN ('user.created', 'user.updated', 'user.deleted', 'key.created',
                                                           'key.updated', 'key.rolled', 'key.revoked', 'key.deleted')),
    CONSTRAINT audit_events_request_id_length_check CHECK (char_length(request_id) <= 200),
    CONSTRAINT audit_events_changes_check CHECK (jsonb_typeof(changes) = 'object' AND NOT changes ? 'token_hash')
);

-- The listings (GET /v1/audit, GET /v1/users/{id}/audit), newest first: by user (a user's events include its
-- keys'), by key, by action; the unfiltered listing and the purge read audit_events_pkey.
CREATE INDEX audit_events_user_id_idx ON audit_events (user_id, id);
CREATE INDEX audit_events_key_id_idx ON audit_events (key_id, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, id);

-- Records one row's change. SECURITY DEFINER: the roles that change users and keys need no right on
-- audit_events at all (they cannot write events of their own making). Arguments: the entity ('user' | 'key').
CREATE FUNCTION userkeys_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'token_hash' - 'last_used_at' END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'token_hash' - 'last_used_at' END;
    subject jsonb := COALESCE(new_row, old_row);
    changes jsonb;
    verb    text;
BEGIN
    SELECT COALESCE(jsonb_object_agg(field, jsonb_build_array(old_row -> field, new_row -> field)), '{}')
    INTO changes
    FROM jsonb_object_keys(subject) AS field
    WHERE (old_row -> field) IS DISTINCT FROM (new_row -> field)
      AND NOT (TG_OP = 'INSERT' AND new_row -> field = 'null');

    IF changes = '{}' THEN
        RETURN NULL;
    END IF;

    verb := CASE
        WHEN TG_OP = 'INSERT' THEN 'created'
        WHEN TG_OP = 'DELETE' THEN 'deleted'
        WHEN TG_ARGV[0] = 'key' AND changes ? 'revoked_at' AND old_row ->> 'revoked_at' IS NULL THEN 'revoked'
        WHEN TG_ARGV[0] = 'key' AND changes ? 'rolled_at' AND old_row ->> 'rolled_at' IS NULL THEN 'rolled'
        ELSE 'updated'
    END;

    INSERT INTO audit_events (action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, changes)
    VALUES (TG_ARGV[0] || '.' || verb,
            NULLIF(current_setting('userkeys.actor_user_id', true), '')::bigint,
            NULLIF(current_setting('userkeys.actor_key_id', true), '')::bigint,
            session_user,
            CASE WHEN TG_ARGV[0] = 'user' THEN (subject ->> 'id')::bigint ELSE (subject ->> 'user_id')::bigint END,
            CASE WHEN TG_ARGV[0] = 'key' THEN (subject ->> 'id')::bigint END,
            left(NULLIF(current_setting('userkeys.request_id', true), ''), 200),
            changes);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_audit AFTER INSERT OR UPDATE OR DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION userkeys_audit('user');
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE OR DELETE ON api_keys FOR EACH ROW
    EXECUTE FUNCTION userkeys_audit('key');

-- Append-only. The purge sets userkeys.audit_purge inside audit_purge() only; even then, no event of the
-- last day can be deleted.
CREATE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('userkeys.audit_purge', true) = 'on' AND OLD.at < now() - interval '1 day' THEN
        RETURN OLD;
    END IF;

    RAISE EXCEPTION 'audit events are append-only: % of audit_events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'audit_events_append_only',
              HINT = 'Old events are removed by the retention purge (UserKeys__AuditRetentionDays) only.';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events FOR EACH ROW
    EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events FOR EACH STATEMENT
    EXECUTE FUNCTION audit_events_append_only();

-- The retention purge: deletes up to batch_size of the oldest events when they are older than cutoff, and
-- returns how many it deleted, or -1 when another instance is purging (one instance at a time; a transaction-
-- scoped advisory lock, so it holds no session state a pooler would have to keep). Reads the oldest events
-- by id (audit_events_pkey): ids follow time, so the batch is the oldest; an event committed late by a long
-- transaction waits for a later pass. The cutoff can never be within the last day.
CREATE FUNCTION audit_purge(cutoff timestamptz, batch_size integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    deleted integer;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended('userkeys.audit_purge', 0)) THEN
        RETURN -1;
    END IF;

    PERFORM set_config('userkeys.audit_purge', 'on', true);
    DELETE FROM audit_events
    WHERE id IN (SELECT oldest.id
                 FROM (SELECT id, at FROM audit_events ORDER BY id LIMIT LEAST(GREATEST(batch_size, 1), 10000)) oldest
                 WHERE oldest.at < LEAST(cutoff, now() - interval '1 day'));
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM set_config('userkeys.audit_purge', 'off', true);
    RETURN deleted;
END
$$;
