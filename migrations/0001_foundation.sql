-- Foundation: users, organizations, memberships, API keys / personal access tokens, sessions, audit.
-- Identifiers are ULIDs (bare for organizations, prefixed for the rest); constraints live here.

CREATE TABLE users (
    id            text PRIMARY KEY CHECK (id ~ '^usr_[0-9A-HJKMNP-TV-Z]{26}$'),
    email         text NOT NULL CHECK (length(email) BETWEEN 3 AND 320 AND email ~ '^[^@\s]+@[^@\s]+$'),
    name          text CHECK (name IS NULL OR length(name) <= 200),
    password_hash text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2id$%'),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

CREATE TABLE organizations (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9A-HJKMNP-TV-Z]{26}$'),
    slug          text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    auth_required text NOT NULL DEFAULT 'any' CHECK (auth_required IN ('any', 'mfa', 'sso')),
    require_mfa   boolean NOT NULL DEFAULT false,
    exempt_roles  text[] NOT NULL DEFAULT '{owner}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role ~ '^[a-z][a-z0-9_:-]{0,63}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

-- API keys and personal access tokens: one table; a key pinned to an organization acts only there.
CREATE TABLE api_tokens (
    id              text PRIMARY KEY CHECK (id ~ '^tok_[0-9A-HJKMNP-TV-Z]{26}$'),
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id text REFERENCES organizations (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix          text NOT NULL CHECK (length(prefix) BETWEEN 4 AND 32),
    token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    id              text PRIMARY KEY CHECK (id ~ '^(ses|ssosess)_[0-9A-HJKMNP-TV-Z]{26}$'),
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id text REFERENCES organizations (id) ON DELETE CASCADE,
    method          text NOT NULL CHECK (method IN ('password', 'oidc', 'saml', 'ldap')),
    mfa             boolean NOT NULL DEFAULT false,
    token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    ip              text,
    user_agent      text CHECK (user_agent IS NULL OR length(user_agent) <= 512),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    last_seen_at    timestamptz,
    revoked_at      timestamptz,
    CHECK (expires_at > created_at),
    CHECK ((method = 'password') = (id LIKE 'ses\_%'))
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_org ON sessions (organization_id) WHERE organization_id IS NOT NULL;
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Append-only record of sign-in attempts and settings changes. No foreign keys: history outlives rows.
CREATE TABLE audit_events (
    id              text PRIMARY KEY CHECK (id ~ '^evt_[0-9A-HJKMNP-TV-Z]{26}$'),
    organization_id text,
    actor_user_id   text,
    actor_kind      text NOT NULL CHECK (actor_kind IN ('user', 'api_key', 'session', 'system', 'anonymous')),
    action          text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    outcome         text NOT NULL CHECK (outcome IN ('success', 'failure')),
    reason          text,
    target_id       text,
    connection_id   text,
    ip              text,
    request_id      text,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_org ON audit_events (organization_id, id DESC);
