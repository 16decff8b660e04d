-- bench: the audit triggers off: for the bulk seed, and for verify without them (as before migration 0009), side by side.
ALTER TABLE users DISABLE TRIGGER users_audit;
ALTER TABLE api_keys DISABLE TRIGGER api_keys_audit;
