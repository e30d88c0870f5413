-- The session purge deletes a batch of sessions in a few milliseconds at any table size (issue 19).
--
-- Four foreign keys reference sessions (member_sessions, oauth_grants and oauth_tokens by
-- session_id, sessions itself by parent_id), all ON DELETE CASCADE. PostgreSQL runs a foreign key's
-- cascade as a row trigger: every deleted session ran four SPI statements, whether or not anything
-- referenced it (nearly never: a password session has no grant, token or child). Measured with
-- EXPLAIN (ANALYZE, BUFFERS) at 2 M sessions (scripts/scale --purge-only): the four triggers were
-- ~60 % of a purge batch, the DELETE itself the rest.
--
-- They are replaced by the same rules applied set-wise, written here by hand because PostgreSQL
-- has no statement-level referential actions:
-- * the cascade: one statement-level AFTER DELETE trigger on sessions reads the deleted rows (a
--   transition table) and deletes what referenced them in four set statements per DELETE (each an
--   index probe per deleted id: member_sessions_session, oauth_tokens_session, oauth_grants_session,
--   sessions_parent), whichever statement deleted the sessions (the purge, a revocation cleanup, a
--   user's or an organization's cascade);
-- * the check: a row trigger on each referencing column refuses a value that names no session, like
--   the foreign key did (SQLSTATE 23503, the constraint's old name), and takes the same FOR KEY SHARE
--   lock on the session, so a concurrent DELETE of it waits for the inserting transaction (and its
--   cascade then sees the new row) or, having committed first, makes the insert fail. It is an
--   AFTER trigger, like the foreign key's check, so a row inserted with its session in the same
--   statement (a data-modifying WITH) passes.

CREATE FUNCTION session_reference_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sid text := to_jsonb(NEW) ->> TG_ARGV[0];
BEGIN
    IF sid IS NOT NULL THEN
        PERFORM 1 FROM sessions WHERE id = sid FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"', TG_TABLE_NAME, TG_ARGV[1]
                USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_ARGV[1],
                      DETAIL = format('Key (%s)=(%s) is not present in table "sessions".', TG_ARGV[0], sid);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION sessions_deleted_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A statement trigger fires for a DELETE of no rows too (the last level of the children's
    -- cascade below): nothing to do.
    IF NOT EXISTS (SELECT 1 FROM gone) THEN
        RETURN NULL;
    END IF;
    DELETE FROM member_sessions WHERE session_id IN (SELECT id FROM gone);
    DELETE FROM oauth_tokens WHERE session_id IN (SELECT id FROM gone);
    DELETE FROM oauth_grants WHERE session_id IN (SELECT id FROM gone);
    DELETE FROM sessions WHERE parent_id IN (SELECT id FROM gone);
    RETURN NULL;
END $$;

ALTER TABLE member_sessions DROP CONSTRAINT member_sessions_session_id_fkey;
ALTER TABLE oauth_tokens DROP CONSTRAINT oauth_tokens_session_id_fkey;
ALTER TABLE oauth_grants DROP CONSTRAINT oauth_grants_session_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT sessions_parent_id_fkey;

CREATE TRIGGER sessions_deleted_cascade AFTER DELETE ON sessions
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION sessions_deleted_cascade();

CREATE TRIGGER member_sessions_session_id_fkey AFTER INSERT OR UPDATE OF session_id ON member_sessions
    FOR EACH ROW EXECUTE FUNCTION session_reference_check('session_id', 'member_sessions_session_id_fkey');
CREATE TRIGGER oauth_tokens_session_id_fkey AFTER INSERT OR UPDATE OF session_id ON oauth_tokens
    FOR EACH ROW WHEN (NEW.session_id IS NOT NULL)
    EXECUTE FUNCTION session_reference_check('session_id', 'oauth_tokens_session_id_fkey');
CREATE TRIGGER oauth_grants_session_id_fkey AFTER INSERT OR UPDATE OF session_id ON oauth_grants
    FOR EACH ROW EXECUTE FUNCTION session_reference_check('session_id', 'oauth_grants_session_id_fkey');
CREATE TRIGGER sessions_parent_id_fkey AFTER INSERT OR UPDATE OF parent_id ON sessions
    FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL)
    EXECUTE FUNCTION session_reference_check('parent_id', 'sessions_parent_id_fkey');

-- The foreign keys also refused to change a referenced session's id (ON UPDATE NO ACTION); the
-- store never changes one, but the rule stays: an id change with a reference left is refused, with
-- the constraint's old name.
CREATE FUNCTION sessions_id_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referrer text;
BEGIN
    SELECT r.t INTO referrer FROM (
        SELECT 'member_sessions' AS t WHERE EXISTS (SELECT 1 FROM member_sessions WHERE session_id = OLD.id)
        UNION ALL SELECT 'oauth_tokens' WHERE EXISTS (SELECT 1 FROM oauth_tokens WHERE session_id = OLD.id)
        UNION ALL SELECT 'oauth_grants' WHERE EXISTS (SELECT 1 FROM oauth_grants WHERE session_id = OLD.id)
        UNION ALL SELECT 'sessions' WHERE EXISTS (SELECT 1 FROM sessions WHERE parent_id = OLD.id)
    ) r LIMIT 1;
    IF referrer IS NOT NULL THEN
        RAISE EXCEPTION 'update or delete on table "sessions" violates foreign key constraint "%" on table "%"',
                CASE referrer WHEN 'sessions' THEN 'sessions_parent_id_fkey' ELSE referrer || '_session_id_fkey' END, referrer
            USING ERRCODE = 'foreign_key_violation', TABLE = referrer,
                  CONSTRAINT = CASE referrer WHEN 'sessions' THEN 'sessions_parent_id_fkey' ELSE referrer || '_session_id_fkey' END,
                  DETAIL = format('Key (id)=(%s) is still referenced from table "%s".', OLD.id, referrer);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sessions_id_changed AFTER UPDATE OF id ON sessions
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION sessions_id_changed();
