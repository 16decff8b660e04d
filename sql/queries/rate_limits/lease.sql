-- rate_limits/lease: hand this instance units of one rate limit's current window (the window that holds the
-- database's clock, aligned to the epoch in steps of @duration_ms): nothing when fewer than @need are left in it,
-- else at least @need and at most the larger of @want and an eighth of what is left (userkeys_lease_units). @key_id
-- is the budget's key: every key that draws on it shares its windows. The upsert's row lock
-- serialises the leases of one window across instances, so a window never hands out more than @limit.
-- Returns what was granted, what is left of the window, and when it ends; no row when the budget's key (a key with
-- a budget of its own) no longer is one (a cached key read before a delete fails closed). That key is locked FOR KEY
-- SHARE until the lease commits, so that its windows cannot pass to an heir meanwhile.
-- Parameters: @key_id bigint, @name text, @limit bigint, @duration_ms bigint, @need bigint, @want bigint
-- Index: api_keys_pkey; key_rate_windows_pkey (the conflict target).
WITH owner AS (
    SELECT id
    FROM api_keys
    WHERE id = @key_id AND budget_key_id IS NULL
    FOR KEY SHARE
),
current_window AS (
    SELECT to_timestamp(floor(extract(epoch FROM clock_timestamp()) * 1000 / @duration_ms::bigint) * @duration_ms::bigint / 1000.0) AS started
)
INSERT INTO key_rate_windows AS w (key_id, name, window_start, window_end, used, last_grant)
SELECT @key_id, @name, c.started, c.started + make_interval(secs => @duration_ms::bigint / 1000.0), g.units, g.units
FROM current_window c
JOIN owner ON true
CROSS JOIN LATERAL (
    SELECT userkeys_lease_units(@limit::bigint, @need::bigint, @want::bigint) AS units
) g
ON CONFLICT (key_id, name, window_start) DO UPDATE
SET used       = w.used + userkeys_lease_units(@limit::bigint - w.used, @need::bigint, @want::bigint),
    last_grant = userkeys_lease_units(@limit::bigint - w.used, @need::bigint, @want::bigint)
RETURNING last_grant AS granted, GREATEST(@limit::bigint - used, 0) AS remaining, window_end AS reset_at
