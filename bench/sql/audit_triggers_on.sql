-- bench: the audit triggers back on.
ALTER TABLE users ENABLE TRIGGER users_audit;
ALTER TABLE api_keys ENABLE TRIGGER api_keys_audit;
