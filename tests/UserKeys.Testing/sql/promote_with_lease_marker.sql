-- Test support: a promotion to admin in plain SQL by a statement that sets userkeys.lease, the setting the triggers
-- trusted before migration 0020 (it must change nothing of what they do). @id bigint
WITH marker AS (
    SELECT set_config('userkeys.lease', 'on', true) AS lease
)
UPDATE users SET role = 'admin' FROM marker WHERE id = @id AND marker.lease IS NOT NULL
