-- 0006_keep_one_admin: there is always at least one admin. Deleting or demoting the last one fails
-- with SQLSTATE 23514 and constraint name users_last_admin (the service answers 409), also when the
-- change is made directly in SQL.
--
-- Concurrency: two transactions demoting two different admins would each still see the other as an
-- admin. So every removal of an admin first takes one transaction-scoped advisory lock, and only then
-- looks for an admin, in a new snapshot (READ COMMITTED: each statement of the function takes one):
-- the second waits for the first to commit and then sees what it did.
-- Under REPEATABLE READ or SERIALIZABLE the second fails with a serialization error instead (the
-- service writes in READ COMMITTED).

CREATE FUNCTION users_keep_one_admin() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('userkeys.users_last_admin', 0));
    IF NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin') THEN
        RAISE EXCEPTION 'user % is the last admin: there must always be one', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'users_last_admin',
                  HINT = 'Make another user an admin first.';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_keep_one_admin_on_delete AFTER DELETE ON users FOR EACH ROW
    WHEN (OLD.role = 'admin')
    EXECUTE FUNCTION users_keep_one_admin();
CREATE TRIGGER users_keep_one_admin_on_demote AFTER UPDATE OF role ON users FOR EACH ROW
    WHEN (OLD.role = 'admin' AND NEW.role <> 'admin')
    EXECUTE FUNCTION users_keep_one_admin();
