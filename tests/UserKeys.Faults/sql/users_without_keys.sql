-- Faults: users created by the provisioning load that have no key (there must be none). @emails text[]
SELECT count(*) FROM users u WHERE u.email = ANY(@emails) AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.user_id = u.id)
