-- schema/missing_privileges: what the connected role lacks of the privileges the serving service needs (the list of
-- migrations 0014, 0016 and 0020), one row each, e.g. "api_keys: UPDATE". No rows: it has them all. Read by /readyz.
-- Parameters: none
-- Index: none (catalog functions).
SELECT needed.relation || ': ' || needed.privilege AS missing
FROM (VALUES ('users', 'SELECT'), ('users', 'INSERT'), ('users', 'UPDATE'), ('users', 'DELETE'),
             ('api_keys', 'SELECT'), ('api_keys', 'INSERT'), ('api_keys', 'UPDATE'), ('api_keys', 'DELETE'),
             ('key_rate_windows', 'SELECT'), ('key_rate_windows', 'INSERT'), ('key_rate_windows', 'UPDATE'), ('key_rate_windows', 'DELETE'),
             ('user_rate_windows', 'SELECT'), ('user_rate_windows', 'INSERT'), ('user_rate_windows', 'UPDATE'), ('user_rate_windows', 'DELETE'),
             ('key_usage', 'SELECT'), ('key_usage', 'INSERT'), ('key_usage', 'UPDATE'), ('key_usage', 'DELETE'),
             ('applied_operations', 'SELECT'), ('applied_operations', 'INSERT'), ('applied_operations', 'DELETE'),
             ('api_keys_shown', 'SELECT'),
             ('service_secrets', 'SELECT'), ('audit_events', 'SELECT'), ('schemaversions', 'SELECT')) AS needed (relation, privilege)
WHERE NOT has_table_privilege(current_user, needed.relation, needed.privilege)
ORDER BY needed.relation, needed.privilege
