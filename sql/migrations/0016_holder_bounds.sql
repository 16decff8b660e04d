-- 0016_holder_bounds: what an admin imposes on a key binds its holder (README, "Security model").
--
-- api_keys.budget_key_id: the key whose usage limits (remaining, refill, rate_limits and their windows) this key draws
-- on; null: its own. A key a member derives from its key (creating keys with it, rolling it) points at the calling
-- key's budget, so derived keys share one budget and never multiply it. It always names a key with a budget of its
-- own (one hop), and a key that draws on another has no limits of its own (api_keys_budget_check). When a budget's
-- key is deleted, its newest dependant inherits the budget and the windows (userkeys_pass_on_budget): deleting a key
-- sheds no limit.
-- api_keys.disabled_by_admin: set when an admin disables a key; only an admin enables it again.
-- users: the same usage limits as keys (remaining, refill, rate_limits, credit_epoch), applied to every verification
-- of every key of the user; user_rate_windows holds their windows as key_rate_windows holds the keys'.
--
-- Keys rolled before this script had their credits moved to the new key and drew on it during their grace (0010);
-- they now draw on the newest key of their roll chain, which holds those credits.
--
-- Safe on a live database: nullable or constant-default columns (no rewrite), NOT VALID checks, a new table; the
-- index on budget_key_id is built concurrently by 0017.

ALTER TABLE api_keys
    ADD COLUMN budget_key_id     bigint  NULL,
    ADD COLUMN disabled_by_admin boolean NOT NULL DEFAULT false;

WITH RECURSIVE chain AS (
    SELECT k.id AS start_id, s.id AS head_id, 1 AS depth
    FROM api_keys k
    JOIN api_keys s ON s.rolled_from_id = k.id
    UNION ALL
    SELECT c.start_id, s.id, c.depth + 1
    FROM chain c
    JOIN api_keys s ON s.rolled_from_id = c.head_id
    WHERE c.depth < 1000
),
heads AS (
    SELECT DISTINCT ON (start_id) start_id, head_id
    FROM chain
    ORDER BY start_id, depth DESC
)
UPDATE api_keys k
SET budget_key_id = h.head_id, remaining = NULL, refill_interval = NULL, refill_amount = NULL, refilled_at = NULL,
    rate_limits = '[]'
FROM heads h
WHERE k.id = h.start_id;

ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_budget_check
        CHECK (budget_key_id IS NULL
               OR (budget_key_id <> id AND remaining IS NULL AND refill_interval IS NULL AND refill_amount IS NULL
                   AND rate_limits = '[]'::jsonb)) NOT VALID,
    -- Checked at commit: a deleted budget's dependants are pointed at its heir after the delete, in the same statement.
    ADD CONSTRAINT api_keys_budget_key_id_fkey FOREIGN KEY (budget_key_id) REFERENCES api_keys (id)
        DEFERRABLE INITIALLY DEFERRED NOT VALID;

-- Windows outlive a deleted key so that they can pass to its heir; rows of ended windows are purged by time anyway.
ALTER TABLE key_rate_windows DROP CONSTRAINT key_rate_windows_key_id_fkey;

-- How many units a lease hands out of what is available: nothing when fewer than @need, else at least need and at most
-- the larger of want and an eighth of what is available (credits/lease, rate_limits/lease and their user forms).
CREATE FUNCTION userkeys_lease_units(available bigint, need bigint, want bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN available < need THEN 0 ELSE LEAST(available, GREATEST(need, LEAST(want, available / 8))) END;

CREATE FUNCTION userkeys_pass_on_budget() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
    heir bigint;
BEGIN
    SELECT max(k.id) INTO heir FROM public.api_keys k WHERE k.budget_key_id = OLD.id;
    IF heir IS NULL THEN
        RETURN NULL;
    END IF;

    UPDATE public.api_keys
    SET budget_key_id = NULL, remaining = OLD.remaining, refill_interval = OLD.refill_interval,
        refill_amount = OLD.refill_amount, refilled_at = OLD.refilled_at, rate_limits = OLD.rate_limits,
        credit_epoch = GREATEST(credit_epoch, OLD.credit_epoch) + 1
    WHERE id = heir;
    UPDATE public.api_keys SET budget_key_id = heir WHERE budget_key_id = OLD.id;
    UPDATE public.key_rate_windows SET key_id = heir WHERE key_id = OLD.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_pass_on_budget AFTER DELETE ON api_keys FOR EACH ROW
    EXECUTE FUNCTION userkeys_pass_on_budget();

-- A key as the API shows it: its usage limits are its budget's (budget_key_id: its own id when it has its own).
-- The statements that read keys select from it; the ones that write keys return the same columns.
CREATE VIEW api_keys_shown AS
SELECT k.id, k.user_id, k.name, k.prefix, k.token_hash, k.created_at, k.expires_at, k.revoked_at, k.last_used_at,
       k.enabled, k.disabled_by_admin, k.scopes, k.permissions, k.meta, k.rolled_from_id, k.rolled_at,
       COALESCE(k.budget_key_id, k.id)      AS budget_key_id,
       COALESCE(b.remaining, k.remaining)   AS remaining,
       COALESCE(b.refill_interval, k.refill_interval) AS refill_interval,
       COALESCE(b.refill_amount, k.refill_amount)     AS refill_amount,
       COALESCE(b.refilled_at, k.refilled_at)         AS refilled_at,
       COALESCE(b.rate_limits, k.rate_limits)         AS rate_limits
FROM api_keys k
LEFT JOIN api_keys b ON b.id = k.budget_key_id;

ALTER TABLE users
    ADD COLUMN remaining       bigint      NULL,
    ADD COLUMN refill_interval text        NULL,
    ADD COLUMN refill_amount   bigint      NULL,
    ADD COLUMN refilled_at     timestamptz NULL,
    ADD COLUMN credit_epoch    integer     NOT NULL DEFAULT 0,
    ADD COLUMN rate_limits     jsonb       NOT NULL DEFAULT '[]';

ALTER TABLE users
    ADD CONSTRAINT users_remaining_check CHECK (remaining BETWEEN 0 AND 9007199254740992) NOT VALID,
    ADD CONSTRAINT users_refill_check
        CHECK ((refill_interval IS NULL) = (refill_amount IS NULL)
               AND refill_interval IN ('daily', 'monthly')
               AND refill_amount BETWEEN 0 AND 9007199254740992
               AND (refill_interval IS NULL OR remaining IS NOT NULL)) NOT VALID,
    ADD CONSTRAINT users_rate_limits_check
        CHECK (jsonb_typeof(rate_limits) = 'array' AND jsonb_array_length(rate_limits) <= 5) NOT VALID;

CREATE TABLE user_rate_windows (
    user_id       bigint      NOT NULL,
    name          text        NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    used          bigint      NOT NULL,
    last_grant    bigint      NOT NULL,
    CONSTRAINT user_rate_windows_pkey PRIMARY KEY (user_id, name, window_start),
    CONSTRAINT user_rate_windows_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT user_rate_windows_used_check CHECK (used >= 0 AND last_grant >= 0)
);

-- Serves the purge of ended windows.
CREATE INDEX user_rate_windows_window_end_idx ON user_rate_windows (window_end);

-- A lease of a user's credits is consumption, not a change of the user: like the keys' (0015), not announced.
DROP TRIGGER users_notify_update ON users;
CREATE TRIGGER users_notify_update AFTER UPDATE ON users FOR EACH ROW
    WHEN (current_setting('userkeys.lease', true) IS DISTINCT FROM 'on' AND OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION userkeys_notify_auth_change('user');

CREATE OR REPLACE FUNCTION userkeys_grant_service_role(service_role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', service_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON users, api_keys, key_rate_windows, user_rate_windows, key_usage TO %I',
                   service_role);
    EXECUTE format('GRANT SELECT ON api_keys_shown, service_secrets, audit_events, schemaversions TO %I', service_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', service_role);
END
$$;

-- A role granted before (migrate --grant-to) gets the new table and view too, so a deploy needs no new grant step.
DO $$
DECLARE
    grantee name;
BEGIN
    FOR grantee IN
        SELECT DISTINCT r.rolname
        FROM pg_class c
        CROSS JOIN LATERAL aclexplode(c.relacl) a
        JOIN pg_roles r ON r.oid = a.grantee
        WHERE c.oid = 'public.key_rate_windows'::regclass AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON user_rate_windows TO %I', grantee);
        EXECUTE format('GRANT SELECT ON api_keys_shown TO %I', grantee);
    END LOOP;
END
$$;
