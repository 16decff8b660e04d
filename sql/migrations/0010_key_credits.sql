-- 0010_key_credits: usage control's credits (../shared/API.md, "Usage control"): remaining (null: unlimited),
-- refill (daily or monthly, to an amount, at the start of each UTC period, lazily on the first use after it),
-- refilled_at; credit_epoch (internal) changes whenever remaining is set outright (by an admin, or by a refill),
-- so that units an instance leased before that are never handed back into the new budget.
--
-- Credits are consumed through leases (sql/queries/credits): one UPDATE hands an instance a share of what is
-- left, never one write per verification. A lease is consumption, not a change of the key: its statement sets
-- userkeys.lease, and then neither the auth caches are told (0004's trigger, replaced below with that condition)
-- nor the audit log written (0009's function, replaced below). Anything else that changes remaining (an admin's
-- PATCH, a DBA's UPDATE) is announced and audited as before.
--
-- Safe on a live database: nullable or constant-default columns (no rewrite), NOT VALID checks, and the trigger is
-- replaced within this script's transaction (no moment without it).

ALTER TABLE api_keys
    ADD COLUMN remaining       bigint      NULL,
    ADD COLUMN refill_interval text        NULL,
    ADD COLUMN refill_amount   bigint      NULL,
    ADD COLUMN refilled_at     timestamptz NULL,
    ADD COLUMN credit_epoch    integer     NOT NULL DEFAULT 0;

ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_remaining_check CHECK (remaining BETWEEN 0 AND 9007199254740992) NOT VALID,
    ADD CONSTRAINT api_keys_refill_check
        CHECK ((refill_interval IS NULL) = (refill_amount IS NULL)
               AND refill_interval IN ('daily', 'monthly')
               AND refill_amount BETWEEN 0 AND 9007199254740992
               AND (refill_interval IS NULL OR remaining IS NOT NULL)) NOT VALID;

DROP TRIGGER api_keys_notify_update ON api_keys;
CREATE TRIGGER api_keys_notify_update AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at')
          AND current_setting('userkeys.lease', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION userkeys_notify_auth_change('key');

CREATE OR REPLACE FUNCTION userkeys_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - 'token_hash' - 'last_used_at' - 'credit_epoch' END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - 'token_hash' - 'last_used_at' - 'credit_epoch' END;
    subject jsonb := COALESCE(new_row, old_row);
    changes jsonb;
    verb    text;
BEGIN
    -- Consumption, not a change: a lease of credits (credits/lease, credits/give_back) marks its statement.
    IF current_setting('userkeys.lease', true) = 'on' THEN
        RETURN NULL;
    END IF;

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
