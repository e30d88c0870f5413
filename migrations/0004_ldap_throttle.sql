-- LDAP sign-in throttling, in PostgreSQL so every replica shares it. One row per
-- (connection, key): key is a 32-byte keyed digest of the lower-cased username (never the username
-- or the password itself), or empty for the connection-wide counter. An attempt is counted before
-- the bind (so a parallel burst cannot slip past) and uncounted when it ends without a verdict on
-- the password; a success clears the username's row.
CREATE TABLE ldap_throttle (
    connection_id   text NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    subject_key     bytea NOT NULL CHECK (length(subject_key) IN (0, 32)),
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    PRIMARY KEY (connection_id, subject_key)
);
CREATE INDEX ldap_throttle_last_failure ON ldap_throttle (last_failure_at);
