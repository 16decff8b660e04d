-- 0020_database_guarantees: what the database guarantees holds against its own roles (README, "Security model").
--
-- 1. The triggers decide by data, never by a setting a session can set. A lease of credits and a recorded use write
--    only their own columns (the "consumption" columns: last_used_at, leased, refilled_at, credit_epoch), and the audit
--    and notification triggers fire only for statements that write any other column (UPDATE OF ...). userkeys.lease
--    means nothing any more. Credits left are now remaining - leased: remaining is what an admin (or a refill) set,
--    leased what instances took from it since; a refill sets leased so that remaining - leased is its amount. A plain
--    SQL change of remaining starts a new budget (leased 0, a new credit epoch), as the service's PATCH does.
--    Every column is either audited or a consumption column: a test compares this list with the table.
-- 2. audit_purge() is the schema owner's: EXECUTE revoked from PUBLIC. It never deletes events younger than the floor
--    the database holds (audit_retention.floor, 30 days; the owner may change it), whatever cutoff it is given.
-- 3. Every trigger and SECURITY DEFINER function runs with search_path = pg_catalog, public, pg_temp and names its
--    tables with their schema, so a temporary table of a session shadows nothing they read or write. (TEMP stays
--    granted on the database: that is the DBA's, and the functions no longer care.)
-- 4. userkeys_grant_service_role refuses PUBLIC, the schema's owner and superusers.
-- 5. Give-backs of credits and usage flushes carry an operation id, recorded in applied_operations in their own
--    statement: one retried after an ambiguous failure applies once. Ids are kept a day.
-- 6. audit_events.trace_id: the caller's trace id, kept beside request_id (the service's own id), never instead.

-- 1. Consumption columns.
ALTER TABLE api_keys ADD COLUMN leased bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN leased bigint NOT NULL DEFAULT 0;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_credits_left_check CHECK (remaining - leased BETWEEN 0 AND 9007199254740992) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_credits_left_check CHECK (remaining - leased BETWEEN 0 AND 9007199254740992) NOT VALID;

-- A statement that sets remaining without starting a new credit epoch itself (a DBA's UPDATE) starts a new budget:
-- nothing of it leased, and give-backs of the old epoch dropped.
CREATE FUNCTION userkeys_budget_set() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    NEW.leased := 0;
    NEW.credit_epoch := OLD.credit_epoch + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER api_keys_budget_set BEFORE UPDATE OF remaining ON api_keys FOR EACH ROW
    WHEN (OLD.remaining IS DISTINCT FROM NEW.remaining AND OLD.credit_epoch = NEW.credit_epoch)
    EXECUTE FUNCTION userkeys_budget_set();
CREATE TRIGGER users_budget_set BEFORE UPDATE OF remaining ON users FOR EACH ROW
    WHEN (OLD.remaining IS DISTINCT FROM NEW.remaining AND OLD.credit_epoch = NEW.credit_epoch)
    EXECUTE FUNCTION userkeys_budget_set();

CREATE OR REPLACE VIEW api_keys_shown AS
SELECT k.id, k.user_id, k.name, k.prefix, k.token_hash, k.created_at, k.expires_at, k.revoked_at, k.last_used_at,
       k.enabled, k.disabled_by_admin, k.scopes, k.permissions, k.meta, k.rolled_from_id, k.rolled_at,
       COALESCE(k.budget_key_id, k.id)      AS budget_key_id,
       COALESCE(b.remaining - b.leased, k.remaining - k.leased) AS remaining,
       COALESCE(b.refill_interval, k.refill_interval) AS refill_interval,
       COALESCE(b.refill_amount, k.refill_amount)     AS refill_amount,
       COALESCE(b.refilled_at, k.refilled_at)         AS refilled_at,
       COALESCE(b.rate_limits, k.rate_limits)         AS rate_limits
FROM api_keys k
LEFT JOIN api_keys b ON b.id = k.budget_key_id;

CREATE OR REPLACE FUNCTION userkeys_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'token_hash' - 'last_used_at' - 'credit_epoch' - 'leased' END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'token_hash' - 'last_used_at' - 'credit_epoch' - 'leased' END;
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

    INSERT INTO public.audit_events (action, actor_user_id, actor_key_id, db_role, user_id, key_id, request_id, trace_id, changes)
    VALUES (TG_ARGV[0] || '.' || verb,
            NULLIF(current_setting('userkeys.actor_user_id', true), '')::bigint,
            NULLIF(current_setting('userkeys.actor_key_id', true), '')::bigint,
            session_user,
            CASE WHEN TG_ARGV[0] = 'user' THEN (subject ->> 'id')::bigint ELSE (subject ->> 'user_id')::bigint END,
            CASE WHEN TG_ARGV[0] = 'key' THEN (subject ->> 'id')::bigint END,
            left(NULLIF(current_setting('userkeys.request_id', true), ''), 200),
            left(NULLIF(current_setting('userkeys.trace_id', true), ''), 200),
            changes);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION userkeys_notify_auth_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_catalog.pg_notify('userkeys_auth_changed', 'all');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_catalog.pg_notify('userkeys_auth_changed', TG_ARGV[0] || ':' || OLD.id);
    ELSE
        PERFORM pg_catalog.pg_notify('userkeys_auth_changed', TG_ARGV[0] || ':' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER api_keys_notify_update ON api_keys;
DROP TRIGGER api_keys_audit ON api_keys;
DROP TRIGGER users_notify_update ON users;
DROP TRIGGER users_audit ON users;

-- The audited columns: every one but the consumption columns (last_used_at, leased, refilled_at, credit_epoch).
CREATE TRIGGER api_keys_notify_update
    AFTER UPDATE OF id, user_id, name, prefix, token_hash, created_at, expires_at, revoked_at, enabled, scopes, permissions, meta,
                    rolled_from_id, rolled_at, remaining, refill_interval, refill_amount, rate_limits, budget_key_id,
                    disabled_by_admin, derived_from_id
    ON api_keys FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION userkeys_notify_auth_change('key');
CREATE TRIGGER api_keys_audit
    AFTER INSERT OR DELETE
       OR UPDATE OF id, user_id, name, prefix, token_hash, created_at, expires_at, revoked_at, enabled, scopes, permissions, meta,
                    rolled_from_id, rolled_at, remaining, refill_interval, refill_amount, rate_limits, budget_key_id,
                    disabled_by_admin, derived_from_id
    ON api_keys FOR EACH ROW
    EXECUTE FUNCTION userkeys_audit('key');
CREATE TRIGGER users_notify_update
    AFTER UPDATE OF id, email, name, role, created_at, remaining, refill_interval, refill_amount, rate_limits
    ON users FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION userkeys_notify_auth_change('user');
CREATE TRIGGER users_audit
    AFTER INSERT OR DELETE
       OR UPDATE OF id, email, name, role, created_at, remaining, refill_interval, refill_amount, rate_limits
    ON users FOR EACH ROW
    EXECUTE FUNCTION userkeys_audit('user');

CREATE OR REPLACE FUNCTION userkeys_pass_on_budget() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    heir bigint;
BEGIN
    SELECT max(k.id) INTO heir FROM public.api_keys k WHERE k.budget_key_id = OLD.id;
    IF heir IS NULL THEN
        RETURN NULL;
    END IF;

    UPDATE public.api_keys
    SET budget_key_id = NULL, remaining = OLD.remaining - OLD.leased, leased = 0, refill_interval = OLD.refill_interval,
        refill_amount = OLD.refill_amount, refilled_at = OLD.refilled_at, rate_limits = OLD.rate_limits,
        credit_epoch = GREATEST(credit_epoch, OLD.credit_epoch) + 1
    WHERE id = heir;
    UPDATE public.api_keys SET budget_key_id = heir WHERE budget_key_id = OLD.id;
    INSERT INTO public.key_rate_windows AS w (key_id, name, window_start, window_end, used, last_grant)
    SELECT heir, o.name, o.window_start, o.window_end, o.used, o.last_grant
    FROM public.key_rate_windows o
    WHERE o.key_id = OLD.id
    ON CONFLICT (key_id, name, window_start) DO UPDATE SET used = w.used + EXCLUDED.used;
    DELETE FROM public.key_rate_windows WHERE key_id = OLD.id;
    RETURN NULL;
END
$$;

-- 2. The retention purge is the owner's, and keeps at least the floor.
CREATE TABLE audit_retention (
    singleton boolean  NOT NULL DEFAULT true,
    floor     interval NOT NULL,
    CONSTRAINT audit_retention_pkey PRIMARY KEY (singleton),
    CONSTRAINT audit_retention_singleton_check CHECK (singleton),
    CONSTRAINT audit_retention_floor_check CHECK (floor >= interval '1 day')
);
INSERT INTO audit_retention (floor) VALUES (interval '30 days');

CREATE OR REPLACE FUNCTION audit_purge(cutoff timestamptz, batch_size integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    deleted integer;
    keep_after timestamptz := LEAST(cutoff, now() - (SELECT r.floor FROM public.audit_retention r));
BEGIN
    IF NOT pg_catalog.pg_try_advisory_xact_lock(pg_catalog.hashtextextended('userkeys.audit_purge', 0)) THEN
        RETURN -1;
    END IF;

    PERFORM pg_catalog.set_config('userkeys.audit_purge', 'on', true);
    DELETE FROM public.audit_events
    WHERE id IN (SELECT oldest.id
                 FROM (SELECT e.id, e.at FROM public.audit_events e ORDER BY e.id LIMIT LEAST(GREATEST(batch_size, 1), 10000)) oldest
                 WHERE oldest.at < keep_after);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    PERFORM pg_catalog.set_config('userkeys.audit_purge', 'off', true);
    RETURN deleted;
END
$$;

REVOKE ALL ON FUNCTION audit_purge(timestamptz, integer) FROM PUBLIC;

CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('userkeys.audit_purge', true) = 'on'
       AND OLD.at < now() - (SELECT r.floor FROM public.audit_retention r) THEN
        RETURN OLD;
    END IF;

    RAISE EXCEPTION 'audit events are append-only: % of audit_events is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', CONSTRAINT = 'audit_events_append_only',
              HINT = 'Old events are removed by the retention purge (audit_purge(), the schema owner''s) only.';
END
$$;

-- 3. The last-admin guard reads public.users, whatever tables a session made.
CREATE OR REPLACE FUNCTION users_keep_one_admin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended('userkeys.users_last_admin', 0));
    IF NOT EXISTS (SELECT 1 FROM public.users WHERE role = 'admin') THEN
        RAISE EXCEPTION 'user % is the last admin: there must always be one', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'users_last_admin',
                  HINT = 'Make another user an admin first.';
    END IF;
    RETURN NULL;
END
$$;

-- 5. Operations applied at most once.
CREATE TABLE applied_operations (
    id         uuid        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT applied_operations_pkey PRIMARY KEY (id)
);

-- Serves the purge of ids older than a day.
CREATE INDEX applied_operations_applied_at_idx ON applied_operations (applied_at);

-- 4. Only a role that is neither PUBLIC, nor the owner, nor a superuser is given the service's rows.
CREATE OR REPLACE FUNCTION userkeys_grant_service_role(service_role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
BEGIN
    IF lower(service_role) = 'public' THEN
        RAISE EXCEPTION 'the service''s rows are never granted to PUBLIC' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF service_role = (SELECT c.relowner::regrole::name FROM pg_catalog.pg_class c WHERE c.oid = 'public.api_keys'::regclass) THEN
        RAISE EXCEPTION 'role % owns the schema: the service must run as a role of its own', service_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = service_role AND (r.rolsuper OR r.rolcreaterole)) THEN
        RAISE EXCEPTION 'role % is a superuser or may create roles: the service must run as a role of its own', service_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = service_role)
       AND (pg_catalog.pg_has_role(service_role, (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = 'public.api_keys'::regclass), 'MEMBER')
            OR service_role = (SELECT d.datdba::regrole::name FROM pg_catalog.pg_database d WHERE d.datname = current_database())) THEN
        RAISE EXCEPTION 'role % is a member of the schema''s owner or owns the database: the service must run as a role of its own', service_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', service_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON users, api_keys, key_rate_windows, user_rate_windows, key_usage TO %I',
                   service_role);
    EXECUTE format('GRANT SELECT, INSERT, DELETE ON applied_operations TO %I', service_role);
    EXECUTE format('GRANT SELECT ON api_keys_shown, service_secrets, audit_events, schemaversions TO %I', service_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', service_role);
END
$$;

-- A role granted before (migrate --grant-to) gets the new table too, so a deploy needs no new grant step.
DO $$
DECLARE
    grantee name;
BEGIN
    FOR grantee IN
        SELECT DISTINCT r.rolname
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) a
        JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid = 'public.key_usage'::regclass AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, DELETE ON applied_operations TO %I', grantee);
    END LOOP;
END
$$;

-- 6. The caller's trace id, beside the service's request id.
ALTER TABLE audit_events
    ADD COLUMN trace_id text NULL,
    ADD CONSTRAINT audit_events_trace_id_length_check CHECK (char_length(trace_id) <= 200);
