-- Access tokens of the OpenID Provider are sessions derived from a sign-in session (SPEC §6: the
-- token is "scoped like the SSO session it stands for"). They are not sign-ins of their own: the
-- session listings show the sign-in once, and revoking the sign-in (an admin, sign-out, a
-- deprovisioning) ends every access token derived from it on the next request.
ALTER TABLE sessions ADD COLUMN parent_id text REFERENCES sessions (id) ON DELETE CASCADE;
UPDATE sessions d SET parent_id = g.session_id
  FROM oauth_tokens t JOIN oauth_grants g ON g.id = t.grant_id
 WHERE t.session_id = d.id AND t.kind = 'access';
ALTER TABLE sessions ADD CONSTRAINT sessions_parent_not_self CHECK (parent_id IS DISTINCT FROM id);
CREATE INDEX sessions_parent ON sessions (parent_id) WHERE parent_id IS NOT NULL;
