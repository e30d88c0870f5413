-- Verified domains' auto-join requests, and TOTP multi-factor authentication for password accounts.

-- TOTP (RFC 6238). The shared secret is sealed by the secret box (associated data
-- `users:<id>:totp_secret`, listed in the store's SEALED_COLUMNS so key rotation covers it). A
-- secret is pending until a first code confirms it (`totp_enabled_at`). `totp_last_step` is the
-- last accepted time step: a code is accepted only for a later step, so a code cannot be replayed
-- within its validity window.
ALTER TABLE users
    ADD COLUMN totp_secret     text CHECK (totp_secret IS NULL OR totp_secret LIKE 'v1:%'),
    ADD COLUMN totp_enabled_at timestamptz,
    ADD COLUMN totp_last_step  bigint CHECK (totp_last_step IS NULL OR totp_last_step >= 0),
    ADD CONSTRAINT users_totp_enabled_has_secret CHECK (totp_enabled_at IS NULL OR totp_secret IS NOT NULL);

-- Single-use recovery codes, stored as SHA-256 digests (each code carries 80 random bits).
CREATE TABLE mfa_recovery_codes (
    id         text PRIMARY KEY CHECK (id ~ '^rcv_[0-9A-HJKMNP-TV-Z]{26}$'),
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, code_hash)
);

-- Auto-join requests that need an admin's approval. At most one pending request per user and
-- organization; a rejected request is kept so the user is not asked about again at every sign-in.
CREATE TABLE join_requests (
    id              text PRIMARY KEY CHECK (id ~ '^jrq_[0-9A-HJKMNP-TV-Z]{26}$'),
    organization_id text NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    domain_id       text REFERENCES organization_domains (id) ON DELETE SET NULL,
    domain          text NOT NULL,
    email           text NOT NULL,
    role            text NOT NULL CHECK (role ~ '^[a-z][a-z0-9_:-]{0,63}$' AND role <> 'owner'),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by      text,
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE UNIQUE INDEX join_requests_one_pending ON join_requests (organization_id, user_id) WHERE status = 'pending';
CREATE INDEX join_requests_org ON join_requests (organization_id, id);
CREATE INDEX join_requests_user ON join_requests (user_id);

-- Failed second-factor attempts are counted per user from the audit log (throttling).
CREATE INDEX audit_events_actor_failures ON audit_events (actor_user_id, created_at) WHERE outcome = 'failure';
