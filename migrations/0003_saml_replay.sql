-- SAML assertion-ID replay cache: an assertion is accepted once per connection; the row is kept
-- until the assertion could no longer be accepted anyway, then purged.
CREATE TABLE saml_replay_cache (
    connection_id text NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    assertion_id  text NOT NULL CHECK (length(assertion_id) BETWEEN 1 AND 256),
    expires_at    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, assertion_id)
);
CREATE INDEX saml_replay_cache_expiry ON saml_replay_cache (expires_at);
