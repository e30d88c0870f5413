-- Cost that does not grow with the data: every paged listing walks an index in its cursor's order,
-- the purges find their rows through an index, and every foreign key a delete can reach is indexed
-- (tests/integration/scale checks the last one against pg_constraint, and the plans of the paths).

-- Sessions. (user_id, id) replaces (user_id): the members' branch of an organization's session list
-- walks each member's sessions in id order; the users foreign key keeps its index (leading column).
CREATE INDEX sessions_user_id ON sessions (user_id, id);
DROP INDEX sessions_user;
-- (organization_id, id) replaces (organization_id): an organization's SSO sessions in id order.
CREATE INDEX sessions_org_id ON sessions (organization_id, id) WHERE organization_id IS NOT NULL;
DROP INDEX sessions_org;
-- The purge of sessions revoked more than a day ago (expired ones use sessions_expiry).
CREATE INDEX sessions_revoked ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- A user's organizations and tokens in id order (the foreign keys keep their leading column).
CREATE INDEX memberships_user_org ON memberships (user_id, organization_id);
DROP INDEX memberships_user;
CREATE INDEX api_tokens_user_id ON api_tokens (user_id, id);
DROP INDEX api_tokens_user;
-- An organization's domains in id order.
CREATE INDEX organization_domains_org_id ON organization_domains (organization_id, id);

-- Foreign keys that had no index: deleting an organization, a domain or a connection scanned these.
CREATE INDEX api_tokens_org ON api_tokens (organization_id) WHERE organization_id IS NOT NULL;
CREATE INDEX join_requests_domain ON join_requests (domain_id) WHERE domain_id IS NOT NULL;
CREATE INDEX login_transactions_org ON login_transactions (organization_id);
CREATE INDEX login_transactions_connection ON login_transactions (connection_id);

-- Audit retention deletes by id: an event id is `evt_` + a ULID whose first 48 bits are its creation
-- time in milliseconds, so "older than the cutoff" is a range of the primary key (no index on
-- created_at, which would cost every event ~30 bytes more).

-- Foreign keys added by 0006 (token minting record) and 0007 (the OpenID Provider) that a delete of
-- an organization, a client, a user, a connection, a grant or a session would otherwise scan for.
CREATE INDEX api_tokens_auth_org ON api_tokens (auth_org_id) WHERE auth_org_id IS NOT NULL;
CREATE INDEX oauth_codes_grant ON oauth_codes (grant_id);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);
CREATE INDEX oauth_grants_user ON oauth_grants (user_id);
CREATE INDEX oauth_pending_client ON oauth_pending (client_id);
CREATE INDEX oauth_pending_connection ON oauth_pending (connection_id) WHERE connection_id IS NOT NULL;
CREATE INDEX oauth_tokens_session ON oauth_tokens (session_id) WHERE session_id IS NOT NULL;
