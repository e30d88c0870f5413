-- Builds a large Portico database from SQL alone (scripts/scale, and tests/integration/scale.rs at
-- a small size). Run it in ONE session on a migrated database after
--   SET portico.scale_users = '<N>';            -- background users (0: the fixture only)
--   SET portico.scale_audit_per_user = '<k>';   -- audit events per background user (default 5)
--   SET portico.scale_fixture_members = '<m>';  -- members of the fixture's scale-big (default 10000)
-- Background (per N users): N/10 organizations whose sizes follow a power law (the largest about
-- N/100 members), 1.05 memberships per user, half the organizations with an OIDC connection and a
-- verified domain, ~1.8 live sessions per user (password and SSO) plus ~10 % expired and ~2 %
-- long-revoked ones waiting for the purge, an external identity per SSO user, N/5 API keys, k audit
-- events per user over 500 days (ids are real ULIDs of their time), N/200 join requests and 1,000
-- pending login transactions.
-- Fixture (always, the same in every database, so the measured requests are identical):
--   organization `scale-big`: 10,000 members (scale_fixture_members), each with a live password session;
--   organization `scale-small`: 14 members, each with a password and an SSO session, an active
--     default OIDC connection and the verified domain small.scale.test (discovery);
--   user scale-admin@small.scale.test, owner of both, with an unpinned key SCALE_ADMIN_KEY below
--   and a key pinned to scale-small (SDK calls).
SET synchronous_commit = off;
SELECT setseed(0.19);

-- Keys (no secret: a benchmark fixture).
--   ptk_scaleadm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  (unpinned)
--   ptk_scalesdk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA  (pinned to scale-small)

-- A ULID of time `ms` (Crockford base32, 10 characters) and 16 characters derived from `salt`
-- (hex digits are Crockford digits). An expression, so the planner inlines it.
CREATE FUNCTION pg_temp.ulid(ms bigint, salt text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 45) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 40) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 35) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 30) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 25) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 20) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 15) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 10) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((ms >> 5) & 31)::int + 1, 1)
      || substr('0123456789ABCDEFGHJKMNPQRSTVWXYZ', (ms & 31)::int + 1, 1)
      || upper(substr(md5(salt), 1, 16)) $$;
CREATE FUNCTION pg_temp.ms(t timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
  SELECT (extract(epoch FROM t) * 1000)::bigint $$;
-- A uniform number in [0, 1) drawn from `salt` (deterministic, per row).
CREATE FUNCTION pg_temp.unit(salt text) RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
  SELECT (hashtext(salt) & 1048575) / 1048576.0 $$;
CREATE FUNCTION pg_temp.digest32(salt text) RETURNS bytea LANGUAGE sql IMMUTABLE AS $$
  SELECT decode(md5(salt) || md5(salt || '#'), 'hex') $$;

CREATE TEMP TABLE scale_params AS
SELECT current_setting('portico.scale_users')::int AS n,
       greatest(current_setting('portico.scale_users')::int / 10, 1) AS o,
       coalesce(nullif(current_setting('portico.scale_audit_per_user', true), ''), '5')::int AS k,
       now() AS t0;

-- ------------------------------------------------------------------------------------------------
-- Background
-- ------------------------------------------------------------------------------------------------
CREATE TEMP TABLE bg_org AS
SELECT g AS k, pg_temp.ulid(pg_temp.ms(t0 - interval '3 years' + g * interval '5 minutes'), 'o' || g) AS id
FROM scale_params, generate_series(0, o - 1) g WHERE n > 0;
INSERT INTO organizations (id, slug, name, created_at, updated_at)
SELECT id, 'org-' || k, 'Organization ' || k, now(), now() FROM bg_org;

CREATE TEMP TABLE bg_user AS
SELECT i, 'usr_' || pg_temp.ulid(pg_temp.ms(ts), 'u' || i) AS id, ts,
       -- power law: P(org < x) = (x / o) ^ 0.4
       least(floor(o * power(random(), 2.5))::int, o - 1) AS org_k
FROM (SELECT i, t0 - random() * interval '3 years' AS ts, o FROM scale_params, generate_series(1, n) i) s;
INSERT INTO users (id, email, name, created_at, updated_at)
SELECT u.id, 'user' || u.i || '@org' || u.org_k || '.example.com', 'User ' || u.i, u.ts, u.ts FROM bg_user u;

INSERT INTO memberships (organization_id, user_id, role, created_at, updated_at)
SELECT o.id, u.id, CASE WHEN u.i % 50 = 0 THEN 'admin' ELSE 'member' END, u.ts, u.ts
FROM bg_user u JOIN bg_org o ON o.k = u.org_k;
INSERT INTO memberships (organization_id, user_id, role)
SELECT o.id, u.id, 'member' FROM bg_user u JOIN bg_org o ON o.k = (u.i::bigint * 7919) % (SELECT max(k) + 1 FROM bg_org)
WHERE u.i % 20 = 0 ON CONFLICT DO NOTHING;

CREATE TEMP TABLE bg_conn AS
SELECT k, 'sso_' || pg_temp.ulid(pg_temp.ms(now()) - 86400000 + k, 'c' || k) AS id, id AS org_id FROM bg_org WHERE k % 2 = 0;
INSERT INTO sso_connections (id, organization_id, name, protocol, status, is_default, provider, config, domains)
SELECT c.id, c.org_id, 'Okta', 'oidc', 'active', true, 'oidc',
       jsonb_build_object('issuerUrl', 'https://idp.org' || c.k || '.example.com', 'clientId', 'portico-' || c.k),
       ARRAY['org' || c.k || '.example.com']
FROM bg_conn c;
INSERT INTO organization_domains (id, organization_id, domain, status, verification_token, verified_at)
SELECT pg_temp.ulid(pg_temp.ms(now()) - 3600000 + k, 'd' || k), org_id, 'org' || k || '.example.com', 'verified',
       md5('v' || k), now()
FROM bg_conn;

-- Sessions: live (password, a second password for some, SSO), expired, long revoked.
INSERT INTO sessions (id, user_id, organization_id, method, token_hash, ip, user_agent, created_at, expires_at,
                      connection_id, idp_subject, groups)
SELECT CASE WHEN kind = 'sso' THEN 'ssosess_' ELSE 'ses_' END || pg_temp.ulid(pg_temp.ms(t.created), kind || ':' || u.i),
       u.id, CASE WHEN kind = 'sso' THEN c.org_id END, CASE WHEN kind = 'sso' THEN 'oidc' ELSE 'password' END,
       pg_temp.digest32('s:' || kind || ':' || u.i), '198.51.100.' || (u.i % 250), 'Mozilla/5.0 (X11; Linux x86_64) scale',
       t.created, e.expires, CASE WHEN kind = 'sso' THEN c.id END, CASE WHEN kind = 'sso' THEN 'sub-' || u.i END,
       CASE WHEN kind = 'sso' THEN ARRAY['staff'] ELSE '{}' END
FROM bg_user u
LEFT JOIN bg_conn c ON c.k = u.org_k
CROSS JOIN (VALUES ('pw', 0.9), ('pw2', 0.45), ('sso', 0.9), ('old', 0.1)) v(kind, share)
-- Two uniform draws per (user, kind) from a hash, so each session gets its own.
CROSS JOIN LATERAL (SELECT pg_temp.unit('keep:' || v.kind || ':' || u.i) AS keep,
                           pg_temp.unit('age:' || v.kind || ':' || u.i) AS age) r
CROSS JOIN LATERAL (
    SELECT CASE WHEN v.kind = 'old' THEN p.t0 - interval '13 hours' - r.age * interval '20 hours'
                ELSE p.t0 - r.age * interval '11 hours' END AS created
    FROM scale_params p) t
CROSS JOIN LATERAL (SELECT t.created + interval '12 hours' AS expires) e
WHERE r.keep < v.share AND (v.kind <> 'sso' OR c.id IS NOT NULL);
-- ~2 %: revoked two days ago (a deployment with 30-day sessions), for the revoked purge.
INSERT INTO sessions (id, user_id, method, token_hash, created_at, expires_at, revoked_at)
SELECT 'ses_' || pg_temp.ulid(pg_temp.ms(t0 - interval '3 days'), 'rv' || u.i), u.id, 'password',
       pg_temp.digest32('rv' || u.i), t0 - interval '3 days', t0 + interval '27 days', t0 - interval '2 days'
FROM bg_user u, scale_params WHERE u.i % 50 = 1;

INSERT INTO external_identities (id, connection_id, subject, user_id, email)
SELECT 'idn_' || pg_temp.ulid(pg_temp.ms(u.ts), 'i' || u.i), c.id, 'sub-' || u.i, u.id, 'user' || u.i || '@org' || u.org_k || '.example.com'
FROM bg_user u JOIN bg_conn c ON c.k = u.org_k;

INSERT INTO api_tokens (id, user_id, organization_id, name, prefix, token_hash, created_at)
SELECT 'tok_' || pg_temp.ulid(pg_temp.ms(u.ts), 't' || u.i), u.id, CASE WHEN u.i % 2 = 0 THEN o.id END,
       'ci key', 'ptk_' || substr(md5('p' || u.i), 1, 8), pg_temp.digest32('t' || u.i), u.ts
FROM bg_user u JOIN bg_org o ON o.k = u.org_k WHERE u.i % 5 = 0;

INSERT INTO join_requests (id, organization_id, user_id, domain_id, domain, email, role)
SELECT 'jrq_' || pg_temp.ulid(pg_temp.ms(u.ts), 'j' || u.i), c.org_id, u.id, d.id, d.domain, 'user' || u.i || '@' || d.domain, 'member'
FROM bg_user u JOIN bg_conn c ON c.k = (u.i::bigint * 31) % (SELECT max(k) + 1 FROM bg_org)
JOIN organization_domains d ON d.organization_id = c.org_id
WHERE u.i % 200 = 0 ON CONFLICT DO NOTHING;

INSERT INTO login_transactions (id, state_hash, binding_hash, mode, organization_id, connection_id, pending, expires_at)
SELECT 'lgn_' || pg_temp.ulid(pg_temp.ms(now()), 'l' || g), pg_temp.digest32('ls' || g), pg_temp.digest32('lb' || g),
       'browser', c.org_id, c.id, '{"nonce":"n"}', now() + interval '5 minutes'
FROM generate_series(1, 1000) g JOIN bg_conn c ON c.k = (g * 2) % (SELECT max(k) + 1 FROM bg_org)
WHERE (SELECT n FROM scale_params) > 0;

-- Audit: k per user over 500 days, ids the ULIDs of their times; organizations skewed like members.
INSERT INTO audit_events (id, organization_id, actor_user_id, actor_kind, action, outcome, reason, target_id,
                          connection_id, ip, request_id, details, created_at)
SELECT 'evt_' || pg_temp.ulid(pg_temp.ms(at), 'e' || g), o.id, u.id, 'user',
       CASE WHEN g % 10 < 7 THEN 'sign_in.oidc' WHEN g % 10 < 9 THEN 'sign_in.password' ELSE 'member.role_change' END,
       CASE WHEN g % 20 = 0 THEN 'failure' ELSE 'success' END, CASE WHEN g % 20 = 0 THEN 'invalid_credentials' END,
       u.id, c.id, '198.51.100.' || (g % 250), 'req_' || substr(md5('r' || g), 1, 20),
       jsonb_build_object('method', 'oidc', 'userAgent', 'Mozilla/5.0 (X11; Linux x86_64) scale'), at
FROM (SELECT g, p.t0 - random() * interval '500 days' AS at, 1 + (g * 104729) % p.n AS ui
      FROM scale_params p, generate_series(1, p.n::bigint * p.k) g) e
JOIN bg_user u ON u.i = e.ui
JOIN bg_org o ON o.k = u.org_k
LEFT JOIN bg_conn c ON c.k = u.org_k;

-- ------------------------------------------------------------------------------------------------
-- Fixture
-- ------------------------------------------------------------------------------------------------
INSERT INTO organizations (id, slug, name) VALUES
    ('00SCA1EB1G0000000000000000', 'scale-big', 'Scale big'),
    ('00SCA1ESMA1100000000000000', 'scale-small', 'Scale small');
INSERT INTO users (id, email, name) VALUES ('usr_00SCA1EADM1N00000000000000', 'scale-admin@small.scale.test', 'Scale admin');
INSERT INTO memberships (organization_id, user_id, role) VALUES
    ('00SCA1EB1G0000000000000000', 'usr_00SCA1EADM1N00000000000000', 'owner'),
    ('00SCA1ESMA1100000000000000', 'usr_00SCA1EADM1N00000000000000', 'owner');
INSERT INTO api_tokens (id, user_id, organization_id, name, prefix, token_hash) VALUES
    ('tok_00SCA1EADM1N00000000000000', 'usr_00SCA1EADM1N00000000000000', NULL, 'scale', 'ptk_scaleadm',
     sha256(convert_to('ptk_scaleadm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'UTF8'))),
    ('tok_00SCA1ESDK0000000000000000', 'usr_00SCA1EADM1N00000000000000', '00SCA1ESMA1100000000000000', 'scale sdk', 'ptk_scalesdk',
     sha256(convert_to('ptk_scalesdk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'UTF8')));
INSERT INTO sso_connections (id, organization_id, name, protocol, status, is_default, provider, config, domains)
VALUES ('sso_00SCA1ESMA1100000000000000', '00SCA1ESMA1100000000000000', 'Small IdP', 'oidc', 'active', true, 'oidc',
        '{"issuerUrl":"https://idp.small.scale.test","clientId":"portico"}', ARRAY['small.scale.test']);
INSERT INTO organization_domains (id, organization_id, domain, status, verification_token, verified_at)
VALUES ('00SCA1ESMA11D0000000000000', '00SCA1ESMA1100000000000000', 'small.scale.test', 'verified', md5('small'), now());

CREATE TEMP TABLE fx_user AS
SELECT g, 'usr_00SCA1EB' || lpad(g::text, 18, '0') AS id, 'big' AS org
FROM generate_series(1, coalesce(nullif(current_setting('portico.scale_fixture_members', true), ''), '10000')::int) g
UNION ALL
SELECT g, 'usr_00SCA1ES' || lpad(g::text, 18, '0'), 'small' FROM generate_series(1, 14) g;
INSERT INTO users (id, email, name)
SELECT id, 'member' || g || '@' || org || '.scale.test', 'Member ' || g FROM fx_user;
INSERT INTO memberships (organization_id, user_id, role)
SELECT CASE org WHEN 'big' THEN '00SCA1EB1G0000000000000000' ELSE '00SCA1ESMA1100000000000000' END, id, 'member' FROM fx_user;
INSERT INTO sessions (id, user_id, method, token_hash, expires_at)
SELECT 'ses_00SCA1E' || upper(substr(org, 1, 1)) || lpad(g::text, 18, '0'), id, 'password',
       pg_temp.digest32('fxp' || id), now() + interval '12 hours'
FROM fx_user;
INSERT INTO sessions (id, user_id, organization_id, method, token_hash, expires_at, connection_id, idp_subject)
SELECT 'ssosess_00SCA1ES' || lpad(g::text, 18, '0'), id, '00SCA1ESMA1100000000000000', 'oidc',
       pg_temp.digest32('fxs' || id), now() + interval '12 hours', 'sso_00SCA1ESMA1100000000000000', 'fx-' || g
FROM fx_user WHERE org = 'small';
INSERT INTO external_identities (id, connection_id, subject, user_id, email)
SELECT 'idn_00SCA1ES' || lpad(g::text, 18, '0'), 'sso_00SCA1ESMA1100000000000000', 'fx-' || g, id, 'member' || g || '@small.scale.test'
FROM fx_user WHERE org = 'small';

ANALYZE;
