-- SSO: connections (several per organization), external identities, server-side login transactions.

CREATE TABLE sso_connections (
    id                 text PRIMARY KEY CHECK (id ~ '^sso_[0-9A-HJKMNP-TV-Z]{26}$'),
    organization_id    text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    protocol           text NOT NULL CHECK (protocol IN ('oidc', 'saml', 'ldap')),
    status             text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'testing')),
    -- The organization's default OIDC connection, written by /settings/sso and /v1/sso/config.
    is_default         boolean NOT NULL DEFAULT false,
    provider           text CHECK (provider IS NULL OR provider IN ('okta', 'azure', 'google', 'oidc')),
    -- Protocol fields that are not secret (issuerUrl, clientId, idpEntityId, ldapUrl, ...).
    config             jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    -- Secrets, sealed by the secret box (v1:<key-id>:<nonce>:<ciphertext>).
    client_secret      text CHECK (client_secret IS NULL OR client_secret LIKE 'v1:%'),
    ldap_bind_password text CHECK (ldap_bind_password IS NULL OR ldap_bind_password LIKE 'v1:%'),
    sp_private_key     text CHECK (sp_private_key IS NULL OR sp_private_key LIKE 'v1:%'),
    domains            text[] NOT NULL DEFAULT '{}',
    jit_provisioning   boolean NOT NULL DEFAULT true,
    enforce            boolean NOT NULL DEFAULT false,
    group_attribute    text,
    group_mappings     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(group_mappings) = 'object'),
    default_scopes     text[] NOT NULL DEFAULT '{}',
    default_role       text CHECK (default_role IS NULL OR (default_role ~ '^[a-z][a-z0-9_:-]{0,63}$' AND default_role <> 'owner')),
    attribute_mapping  jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attribute_mapping) = 'object'),
    redirect_uris      text[] NOT NULL DEFAULT '{}',
    last_test_at       timestamptz,
    last_test_success  boolean,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (NOT is_default OR protocol = 'oidc')
);
CREATE INDEX sso_connections_org ON sso_connections (organization_id);
CREATE UNIQUE INDEX sso_connections_one_default ON sso_connections (organization_id) WHERE is_default;

-- An external identity is keyed on (connection, subject): never on email alone, never shared.
CREATE TABLE external_identities (
    id            text PRIMARY KEY CHECK (id ~ '^idn_[0-9A-HJKMNP-TV-Z]{26}$'),
    connection_id text NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    subject       text NOT NULL CHECK (length(subject) BETWEEN 1 AND 1024),
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connection_id, subject)
);
CREATE INDEX external_identities_user ON external_identities (user_id);

-- Login transactions: server-side, single use, 10-minute TTL, shared by every replica.
CREATE TABLE login_transactions (
    id              text PRIMARY KEY CHECK (id ~ '^lgn_[0-9A-HJKMNP-TV-Z]{26}$'),
    state_hash      bytea NOT NULL UNIQUE CHECK (length(state_hash) = 32),
    -- SHA-256 of the browser-binding cookie (browser logins only).
    binding_hash    bytea CHECK (binding_hash IS NULL OR length(binding_hash) = 32),
    mode            text NOT NULL CHECK (mode IN ('browser', 'sdk')),
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    connection_id   text NOT NULL REFERENCES sso_connections (id) ON DELETE CASCADE,
    pending         jsonb NOT NULL DEFAULT '{}'::jsonb,
    return_to       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    CHECK ((mode = 'browser') = (binding_hash IS NOT NULL)),
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '10 minutes')
);
CREATE INDEX login_transactions_expiry ON login_transactions (expires_at);

ALTER TABLE sessions
    ADD COLUMN connection_id text REFERENCES sso_connections (id) ON DELETE CASCADE,
    ADD COLUMN idp_subject   text,
    ADD COLUMN groups        text[] NOT NULL DEFAULT '{}',
    ADD COLUMN mapped_scopes text[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT sessions_sso_has_connection CHECK ((method = 'password') OR connection_id IS NOT NULL);
CREATE INDEX sessions_connection ON sessions (connection_id) WHERE connection_id IS NOT NULL;

-- Organization domains (DNS-verified). A domain verified by one organization can never be
-- verified by another: the partial unique index below.
CREATE TABLE organization_domains (
    id                        text PRIMARY KEY CHECK (id ~ '^[0-9A-HJKMNP-TV-Z]{26}$'),
    organization_id           text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain                    text NOT NULL CHECK (length(domain) BETWEEN 3 AND 253 AND domain ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$' AND domain LIKE '%.%'),
    status                    text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified')),
    verification_token        text NOT NULL CHECK (length(verification_token) BETWEEN 16 AND 128),
    verified_at               timestamptz,
    last_checked_at           timestamptz,
    last_error                text,
    auto_join_enabled         boolean NOT NULL DEFAULT false,
    auto_join_require_approval boolean NOT NULL DEFAULT false,
    auto_join_role            text NOT NULL DEFAULT 'member' CHECK (auto_join_role ~ '^[a-z][a-z0-9_:-]{0,63}$' AND auto_join_role <> 'owner'),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, domain),
    CHECK ((status = 'verified') = (verified_at IS NOT NULL))
);
CREATE UNIQUE INDEX organization_domains_verified_once ON organization_domains (domain) WHERE status = 'verified';
