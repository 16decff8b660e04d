-- 0014_grant_service_role: what the serving service needs, and nothing more, for a role of its own (least privilege:
-- `UserKeys.Api migrate --grant-to ROLE`, run as the schema's owner). Rows, never the schema: the role can read and
-- write users, keys, rate limit windows and usage counts, read the cursor secret, the audit log and the migration
-- journal (for /readyz), and use the identity sequences. It cannot create, alter or drop anything (PostgreSQL 15 gives
-- PUBLIC no CREATE on schema public), nor write audit events: the audit triggers and audit_purge() are SECURITY DEFINER
-- and write as the owner.
-- Idempotent: granting again changes nothing. Only the owner (who runs migrate) may call it.

CREATE FUNCTION userkeys_grant_service_role(service_role name) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', service_role);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON users, api_keys, key_rate_windows, key_usage TO %I', service_role);
    EXECUTE format('GRANT SELECT ON service_secrets, audit_events, schemaversions TO %I', service_role);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', service_role);
END
$$;

REVOKE ALL ON FUNCTION userkeys_grant_service_role(name) FROM PUBLIC;
