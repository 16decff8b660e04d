-- Test support: a table size where PostgreSQL's choices mean something: 200,000 users (four to a
-- created_at) and 400,000 keys (and, through the audit triggers, 600,000 audit events), then fresh statistics.
INSERT INTO users (email, name, role, created_at)
SELECT 'plan-' || g || '@example.com', 'Plan User ' || g, 'member', now() - make_interval(secs => (200000 - g) / 4)
FROM generate_series(1, 200000) AS g;
INSERT INTO api_keys (user_id, name, prefix, token_hash)
SELECT u.id, 'k' || k, 'uk_plan', sha256(convert_to(u.id || '-' || k, 'UTF8'))
FROM users u CROSS JOIN generate_series(1, 2) AS k;
