-- Account-takeover fixes (issue 13): tokens remember how their minting session signed in,
-- TOTP guesses are counted atomically.

-- How the session that minted a token signed in. Policy covers tokens with it: a token is SSO
-- only for `auth_org_id` (the minting SSO connection's organization), and MFA only if its
-- session had MFA (for an SSO session: only for `auth_org_id`). NULL `auth_method` is a token
-- minted before this record existed: non-SSO, non-MFA. `bootstrap` is the operator's key made
-- by `portico bootstrap` (the owner's exempt API key).
ALTER TABLE api_tokens
    ADD COLUMN auth_method text CHECK (auth_method IS NULL OR auth_method IN ('password', 'oidc', 'saml', 'ldap', 'bootstrap')),
    ADD COLUMN auth_org_id text REFERENCES organizations (id) ON DELETE SET NULL,
    ADD COLUMN auth_mfa    boolean NOT NULL DEFAULT false;

-- Keys made by `portico bootstrap` before this migration: the key inserted in the same
-- transaction as the organization's `organization.bootstrap` event (same `now()`), for the
-- owner that event names.
UPDATE api_tokens t SET auth_method = 'bootstrap'
WHERE t.name = 'bootstrap' AND t.organization_id IS NOT NULL AND EXISTS (
    SELECT 1 FROM audit_events e
    WHERE e.action = 'organization.bootstrap' AND e.target_id = t.organization_id
      AND e.details ->> 'ownerUserId' = t.user_id AND e.created_at = t.created_at
);

-- Second-factor attempts per user, counted in one statement before the code is compared, so
-- concurrent guesses cannot all pass the check; a success gives its attempt back. Fixed windows
-- of 5 minutes from the first attempt.
CREATE TABLE mfa_throttle (
    user_id      text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    window_start timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mfa_throttle_window ON mfa_throttle (window_start);
