-- 0004_notify_credential_changes: the database itself announces every change to credentials, so a
-- change made directly in SQL (a DBA in an incident, a script, another version of the service)
-- reaches every instance's auth cache exactly like one made through the API.
--
-- Channel userkeys_auth_changed; payloads:
--   key:<id>          a key was updated (any column but last_used_at) or deleted
--   key_created:<id>  a key was inserted (instances forget tokens they remembered as unknown)
--   user:<id>         a user was updated or deleted
--   all               api_keys or users was truncated: instances drop everything
-- PostgreSQL delivers a notification only when its transaction commits, in commit order, and folds
-- identical ones of one transaction into one.

CREATE FUNCTION userkeys_notify_auth_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('userkeys_auth_changed', 'all');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('userkeys_auth_changed', TG_ARGV[0] || ':' || OLD.id);
    ELSE
        PERFORM pg_notify('userkeys_auth_changed', TG_ARGV[0] || ':' || NEW.id);
    END IF;
    RETURN NULL;
END
$$;

-- last_used_at is written at most once a minute per key by authentication itself; it changes no
-- credential, so it notifies nobody (every other column does, including ones added later).
CREATE TRIGGER api_keys_notify_update AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN ((to_jsonb(OLD) - 'last_used_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_used_at'))
    EXECUTE FUNCTION userkeys_notify_auth_change('key');
CREATE TRIGGER api_keys_notify_delete AFTER DELETE ON api_keys FOR EACH ROW
    EXECUTE FUNCTION userkeys_notify_auth_change('key');
CREATE TRIGGER api_keys_notify_insert AFTER INSERT ON api_keys FOR EACH ROW
    EXECUTE FUNCTION userkeys_notify_auth_change('key_created');
CREATE TRIGGER api_keys_notify_truncate AFTER TRUNCATE ON api_keys FOR EACH STATEMENT
    EXECUTE FUNCTION userkeys_notify_auth_change();

CREATE TRIGGER users_notify_update AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION userkeys_notify_auth_change('user');
CREATE TRIGGER users_notify_delete AFTER DELETE ON users FOR EACH ROW
    EXECUTE FUNCTION userkeys_notify_auth_change('user');
CREATE TRIGGER users_notify_truncate AFTER TRUNCATE ON users FOR EACH STATEMENT
    EXECUTE FUNCTION userkeys_notify_auth_change();
