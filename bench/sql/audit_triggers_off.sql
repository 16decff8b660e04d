-- bench: the verify scenario without the audit triggers (as before migration 0009), to compare side by side.
ALTER TABLE users DISABLE TRIGGER users_audit;
ALTER TABLE api_keys DISABLE TRIGGER api_keys_audit;
