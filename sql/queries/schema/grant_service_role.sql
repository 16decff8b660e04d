-- schema/grant_service_role: give @role exactly what the serving service needs (migration 0014). Run by
-- `migrate --grant-to ROLE` as the schema's owner; a role that does not exist is SQLSTATE 42704.
-- Parameters: @role text
-- Index: none (no table is read).
SELECT userkeys_grant_service_role(@role::name)
