-- Test support: make inserting a key named 'explode' fail inside the database, after whatever the
-- same transaction wrote before it. Idempotent.
CREATE OR REPLACE FUNCTION test_fail_exploding_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'explode' THEN
        RAISE EXCEPTION 'injected fault for key %', NEW.name;
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS test_fail_exploding_key ON api_keys;
CREATE TRIGGER test_fail_exploding_key BEFORE INSERT ON api_keys FOR EACH ROW EXECUTE FUNCTION test_fail_exploding_key();
