-- 0012_key_rate_limits: usage control's rate limits (../shared/API.md, "Usage control"): up to 5 named limits per key,
-- each at most `limit` units per window of `duration_ms` across all instances together.
--
-- api_keys.rate_limits holds the configuration ([{"name", "limit", "duration_ms"}]); key_rate_windows the units
-- handed out per window. Windows are aligned to the epoch in the database's clock (every instance agrees on them);
-- instances lease units from a window (sql/queries/rate_limits/lease: one upsert per lease, never one write per
-- verification) and serve them from memory. Rows of ended windows are deleted by rate_limits/purge_windows.
--
-- Safe on a live database: a constant default (no rewrite of api_keys), a NOT VALID check, and a new table.

ALTER TABLE api_keys
    ADD COLUMN rate_limits jsonb NOT NULL DEFAULT '[]';

ALTER TABLE api_keys
    ADD CONSTRAINT api_keys_rate_limits_check
        CHECK (jsonb_typeof(rate_limits) = 'array' AND jsonb_array_length(rate_limits) <= 5) NOT VALID;

CREATE TABLE key_rate_windows (
    key_id        bigint      NOT NULL,
    name          text        NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    used          bigint      NOT NULL,
    last_grant    bigint      NOT NULL,
    CONSTRAINT key_rate_windows_pkey PRIMARY KEY (key_id, name, window_start),
    CONSTRAINT key_rate_windows_key_id_fkey FOREIGN KEY (key_id) REFERENCES api_keys (id) ON DELETE CASCADE,
    CONSTRAINT key_rate_windows_used_check CHECK (used >= 0 AND last_grant >= 0)
);

-- Serves the purge of ended windows.
CREATE INDEX key_rate_windows_window_end_idx ON key_rate_windows (window_end);
