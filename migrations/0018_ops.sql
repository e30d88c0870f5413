-- An organization's session listing (issue 19): its SSO sessions walk sessions_org_id in id order,
-- and its members' unscoped (password) sessions walk this table's primary key in id order, so a
-- page costs a page's worth of index entries whatever the number of members. Before, the members'
-- branch probed every member's sessions (10,000 index probes for a 10,000-member organization).
--
-- One row per (organization, live unscoped session of one of its members), kept by the triggers
-- below, so every way a session or a membership is written keeps it exact: a new unscoped session
-- is listed under each organization of its user, a new membership lists the user's live unscoped
-- sessions, a removed membership unlists them, and a revocation unlists the session at once (so a
-- mass revocation leaves no dead entries for the listing to skip). Deleted sessions (the purge)
-- and organizations go by cascade.
CREATE TABLE member_sessions (
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    session_id      text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, session_id)
);
CREATE INDEX member_sessions_session ON member_sessions (session_id);

CREATE FUNCTION member_sessions_session_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_sessions (organization_id, session_id)
    SELECT m.organization_id, NEW.id FROM memberships m WHERE m.user_id = NEW.user_id
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER member_sessions_session_added AFTER INSERT ON sessions
    FOR EACH ROW WHEN (NEW.organization_id IS NULL AND NEW.revoked_at IS NULL)
    EXECUTE FUNCTION member_sessions_session_added();

CREATE FUNCTION member_sessions_session_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_sessions WHERE session_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER member_sessions_session_revoked AFTER UPDATE OF revoked_at ON sessions
    FOR EACH ROW WHEN (NEW.organization_id IS NULL AND OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION member_sessions_session_revoked();

CREATE FUNCTION member_sessions_member_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO member_sessions (organization_id, session_id)
    SELECT NEW.organization_id, s.id FROM sessions s
    WHERE s.user_id = NEW.user_id AND s.organization_id IS NULL AND s.revoked_at IS NULL AND s.expires_at > now()
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER member_sessions_member_added AFTER INSERT ON memberships
    FOR EACH ROW EXECUTE FUNCTION member_sessions_member_added();

CREATE FUNCTION member_sessions_member_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_sessions ms USING sessions s
    WHERE ms.organization_id = OLD.organization_id AND ms.session_id = s.id
      AND s.user_id = OLD.user_id AND s.organization_id IS NULL;
    RETURN NULL;
END $$;
CREATE TRIGGER member_sessions_member_removed AFTER DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION member_sessions_member_removed();

INSERT INTO member_sessions (organization_id, session_id)
SELECT m.organization_id, s.id FROM sessions s JOIN memberships m ON m.user_id = s.user_id
WHERE s.organization_id IS NULL AND s.revoked_at IS NULL AND s.expires_at > now();
