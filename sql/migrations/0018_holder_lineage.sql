-- 0018_holder_lineage: what an admin imposes later reaches the keys a holder derived before (README, "Security model").
--
-- api_keys.derived_from_id: the key a member's key was derived from (the calling key of its creation); null for keys
-- an admin issued and for a roll's new key (rolled_from_id names that lineage). History, like rolled_from_id: no
-- foreign key, it stays when the parent is deleted. When an admin disables, revokes, narrows, shortens or sets the
-- meta of a key, the service applies the same to every key derived from it, down the tree (keys/impose_on_derived).
--
-- userkeys_permissions_cover(held, asked): whether every asked permission is covered by a held one, a held '*'
-- matching any run of characters (the service's HolderRules.Covers, in SQL): keys/update lets a holder only narrow.
--
-- Backfill, for what happened before 0016 (from the audit trail, which records every change with its actor):
-- * a disabled key counts as disabled by an admin unless its user (a member now) disabled it itself;
-- * a key a member created with one of its own keys is derived from that key: it draws on its budget, and its
--   permissions and meta are narrowed to that key's now (the rule it escaped then).
--
-- Also: a deleted budget's windows are merged into its heir's (a key rolled before 0016 may own rows of the current
-- window itself), instead of moved.

ALTER TABLE api_keys
    ADD COLUMN derived_from_id bigint NULL;

CREATE FUNCTION userkeys_permissions_cover(held text[], asked text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN NOT EXISTS (
    SELECT 1
    FROM unnest(asked) AS a(permission)
    WHERE NOT EXISTS (SELECT 1
                      FROM unnest(held) AS h(pattern)
                      WHERE a.permission LIKE replace(replace(h.pattern, '_', '\_'), '*', '%')));

-- Disabled before 0016: by an admin, unless the last event that disabled it names its own (member) user as the actor.
UPDATE api_keys k
SET disabled_by_admin = true
WHERE NOT k.enabled
  AND NOT k.disabled_by_admin
  AND NOT EXISTS (
      SELECT 1
      FROM (SELECT e.actor_user_id
            FROM audit_events e
            WHERE e.key_id = k.id AND e.action = 'key.updated' AND e.changes -> 'enabled' = '[true, false]'::jsonb
            ORDER BY e.id DESC
            LIMIT 1) last_disable
      JOIN users u ON u.id = last_disable.actor_user_id
      WHERE last_disable.actor_user_id = k.user_id AND u.role = 'member');

-- Created by a member with one of its own keys before 0016: derived from that key.
WITH derived AS (
    SELECT k.id, p.id AS parent_id, COALESCE(p.budget_key_id, p.id) AS budget_id, p.permissions AS parent_permissions,
           p.meta AS parent_meta
    FROM api_keys k
    JOIN users u ON u.id = k.user_id AND u.role = 'member'
    JOIN audit_events e ON e.key_id = k.id AND e.action = 'key.created' AND e.actor_user_id = k.user_id
    JOIN api_keys p ON p.id = e.actor_key_id AND p.user_id = k.user_id AND p.id <> k.id
    WHERE k.derived_from_id IS NULL AND k.rolled_from_id IS NULL
)
UPDATE api_keys k
SET derived_from_id = d.parent_id,
    budget_key_id   = CASE WHEN d.budget_id = k.id THEN k.budget_key_id ELSE d.budget_id END,
    remaining       = CASE WHEN d.budget_id = k.id THEN k.remaining END,
    refill_interval = CASE WHEN d.budget_id = k.id THEN k.refill_interval END,
    refill_amount   = CASE WHEN d.budget_id = k.id THEN k.refill_amount END,
    rate_limits     = CASE WHEN d.budget_id = k.id THEN k.rate_limits ELSE '[]' END,
    permissions     = ARRAY(SELECT permission FROM unnest(k.permissions) AS permission
                            WHERE userkeys_permissions_cover(d.parent_permissions, ARRAY[permission])),
    meta            = d.parent_meta
FROM derived d
WHERE k.id = d.id
  -- A key that others already draw on keeps its own budget (one hop: a budget's key never draws on another).
  AND NOT EXISTS (SELECT 1 FROM api_keys o WHERE o.budget_key_id = k.id);

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
    SET budget_key_id = NULL, remaining = OLD.remaining, refill_interval = OLD.refill_interval,
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
