-- Portico as the applications' OpenID Provider (SPEC §6): the operator's OAuth clients, the sealed
-- ID-token signing keys, pending authorization requests, authorization codes, grants and tokens.
-- Everything a second replica needs lives here; nothing stays in process memory.

-- Clients are the operator's applications. A confidential client's secret carries 256 random
-- bits, so its SHA-256 digest is stored (no slow hash needed against guessing; the secret is shown
-- once). Public clients have no secret and must use PKCE S256.
CREATE TABLE oauth_clients (
    id                        text PRIMARY KEY CHECK (id ~ '^cli_[0-9A-HJKMNP-TV-Z]{26}$'),
    name                      text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    public                    boolean NOT NULL,
    secret_hash               bytea CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    redirect_uris             text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 50),
    post_logout_redirect_uris text[] NOT NULL DEFAULT '{}',
    id_token_alg              text NOT NULL DEFAULT 'ES256' CHECK (id_token_alg IN ('ES256', 'RS256')),
    created_at                timestamptz NOT NULL DEFAULT now(),
    updated_at                timestamptz NOT NULL DEFAULT now(),
    CHECK (public = (secret_hash IS NULL))
);

-- ID-token signing keys, one signer per algorithm. The private key (PKCS#8 DER, base64) is sealed
-- by the secret box (associated data `oauth_signing_keys:<kid>:private_key`, in SEALED_COLUMNS).
-- staged: published in the JWKS, not signing yet; active: the signer; retired: still published
-- until every ID token it signed has expired.
CREATE TABLE oauth_signing_keys (
    id           text PRIMARY KEY CHECK (id ~ '^sig_[0-9A-HJKMNP-TV-Z]{26}$'),
    alg          text NOT NULL CHECK (alg IN ('ES256', 'RS256')),
    status       text NOT NULL CHECK (status IN ('staged', 'active', 'retired')),
    private_key  text NOT NULL CHECK (private_key LIKE 'v1:%'),
    public_jwk   jsonb NOT NULL CHECK (jsonb_typeof(public_jwk) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    activated_at timestamptz,
    retired_at   timestamptz,
    CHECK ((status = 'retired') = (retired_at IS NOT NULL))
);
CREATE UNIQUE INDEX oauth_signing_keys_one_active ON oauth_signing_keys (alg) WHERE status = 'active';

-- An authorization request waiting for its sign-in: bound to the browser that made it (SHA-256 of
-- a cookie) and consumed once when the sign-in has completed. 10-minute TTL like a login.
CREATE TABLE oauth_pending (
    handle_hash  bytea PRIMARY KEY CHECK (length(handle_hash) = 32),
    binding_hash bytea NOT NULL CHECK (length(binding_hash) = 32),
    client_id    text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    connection_id text REFERENCES sso_connections (id) ON DELETE CASCADE,
    request      jsonb NOT NULL CHECK (jsonb_typeof(request) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL CHECK (expires_at <= created_at + interval '10 minutes')
);
CREATE INDEX oauth_pending_expiry ON oauth_pending (expires_at);

-- What one authorization granted to one client: the SSO session it stands for, the scope, the
-- nonce. Codes, access and refresh tokens hang off a grant; revoking the grant revokes them all.
CREATE TABLE oauth_grants (
    id          text PRIMARY KEY CHECK (id ~ '^grt_[0-9A-HJKMNP-TV-Z]{26}$'),
    client_id   text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    session_id  text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope       text NOT NULL,
    nonce       text CHECK (nonce IS NULL OR length(nonce) <= 512),
    auth_time   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX oauth_grants_session ON oauth_grants (session_id);

-- Authorization codes: single use, 60 s, bound to the client, the redirect URI and the PKCE
-- challenge. A code presented twice revokes its grant (RFC 6749 §4.1.2, RFC 9700 §4.5).
CREATE TABLE oauth_codes (
    code_hash      bytea PRIMARY KEY CHECK (length(code_hash) = 32),
    grant_id       text NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri   text NOT NULL,
    code_challenge text CHECK (code_challenge IS NULL OR code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL CHECK (expires_at <= created_at + interval '60 seconds'),
    used_at        timestamptz
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);

-- Access tokens are sessions derived from the grant's SSO session (so the Organization API
-- accepts them as a Bearer with that session's scope); refresh tokens rotate, and a rotated one
-- presented again revokes the grant (reuse detection).
CREATE TABLE oauth_tokens (
    token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    grant_id    text NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('access', 'refresh')),
    session_id  text REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    CHECK ((kind = 'access') = (session_id IS NOT NULL))
);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expires_at);
