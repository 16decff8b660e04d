-- Test support: inserting a key named 'slow' takes 3 seconds, so a request can be abandoned
-- in the middle of its transaction (after the user insert). Idempotent.
CREATE OR REPLACE FUNCTION test_slow_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name = 'slow' THEN
        PERFORM pg_sleep(3);
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS test_slow_key ON api_keys;
CREATE TRIGGER test_slow_key BEFORE INSERT ON api_keys FOR EACH ROW EXECUTE FUNCTION test_slow_key();
