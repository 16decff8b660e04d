-- Test support: a notification on the auth channel, as any role that can connect may send one. @payload text
SELECT pg_notify('userkeys_auth_changed', @payload)
