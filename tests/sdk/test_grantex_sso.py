"""Drives every `client.sso` method of the real grantex==0.7.2 SDK against a running Portico and
the real oidc-provider. Run by the Rust integration test `sdk_python`, which starts Portico and
passes its coordinates in the environment:

PORTICO_URL, PORTICO_API_KEY, PORTICO_ORG_ID, PORTICO_ORG_SLUG, PORTICO_OIDC_ISSUER, PORTICO_DEAD_URL
"""

import os
import re
import time
import unittest
from urllib.parse import parse_qs, urljoin, urlparse

import httpx
from grantex import Grantex
from grantex._errors import GrantexApiError, GrantexAuthError
from grantex._types import (
    CreateSsoConfigParams,
    CreateSsoConnectionParams,
    SsoEnforcementParams,
    SsoLdapCallbackParams,
    SsoOidcCallbackParams,
    UpdateSsoConnectionParams,
)

URL = os.environ["PORTICO_URL"]
KEY = os.environ["PORTICO_API_KEY"]
ORG = os.environ["PORTICO_ORG_ID"]
SLUG = os.environ["PORTICO_ORG_SLUG"]
ISSUER = os.environ["PORTICO_OIDC_ISSUER"]
DEAD = os.environ["PORTICO_DEAD_URL"]
CALLBACK = URL + "/api/auth/sso/callback"


def client(key=KEY):
    return Grantex(api_key=key, base_url=URL, max_retries=0)


def walk(authorize_url, stop_prefix, user="alice", password="alice-password"):
    """Plays the browser at the provider until it is sent to `stop_prefix`; returns that URL."""
    with httpx.Client(follow_redirects=False, timeout=10) as b:
        url = authorize_url
        for _ in range(25):
            if url.startswith(stop_prefix):
                return url
            r = b.get(url)
            if r.is_redirect:
                url = urljoin(url, r.headers["location"])
                continue
            m = re.search(r'action="([^"]+)"', r.text)
            assert m, f"no form at {url}: {r.text[:300]}"
            action = urljoin(url, m.group(1))
            if action.endswith("/login"):
                r = b.post(action, data={"login": user, "password": password})
            else:
                r = b.post(action)
            assert r.is_redirect, f"{action}: {r.status_code} {r.text[:300]}"
            url = urljoin(action, r.headers["location"])
    raise AssertionError("never reached " + stop_prefix)


def code_and_state(url):
    q = parse_qs(urlparse(url).query)
    return q["code"][0], q["state"][0]


def me(token):
    return httpx.get(URL + "/api/user/me", headers={"Authorization": "Bearer " + token}, timeout=10)


class SsoSdkTest(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.gx = client()
        # each test starts from an organization without connections or policy
        for c in self.gx.sso.list_connections().connections:
            self.gx.sso.delete_connection(c.id)
        self.gx.sso.set_enforcement(SsoEnforcementParams(enforce=False))

    def tearDown(self):
        self.gx.close()

    def oidc(self, name="Okta", domains=("example.com",), jit=True, issuer=ISSUER, **kw):
        return self.gx.sso.create_connection(
            CreateSsoConnectionParams(
                name=name, protocol="oidc", issuer_url=issuer, client_id="test-client",
                client_secret="test-secret", domains=list(domains), jit_provisioning=jit, **kw,
            )
        )

    def test_connection_crud(self):
        c = self.oidc(group_mappings={"admins": ["admin:all"]}, default_scopes=["read"], group_attribute="groups")
        self.assertTrue(c.id.startswith("sso_"))
        self.assertEqual(c.developer_id, ORG)
        self.assertEqual((c.name, c.protocol, c.status), ("Okta", "oidc", "active"))
        self.assertEqual(c.domains, ("example.com",))
        self.assertTrue(c.jit_provisioning)
        self.assertEqual(c.issuer_url, ISSUER)
        self.assertEqual(c.group_mappings, {"admins": ["admin:all"]})
        self.assertEqual(c.default_scopes, ("read",))
        listed = self.gx.sso.list_connections()
        self.assertEqual([x.id for x in listed.connections], [c.id])
        self.assertEqual(self.gx.sso.get_connection(c.id), c)
        u = self.gx.sso.update_connection(c.id, UpdateSsoConnectionParams(name="Okta 2", jit_provisioning=False, domains=["example.com", "example.org"], status="inactive"))
        self.assertEqual((u.name, u.jit_provisioning, u.status), ("Okta 2", False, "inactive"))
        self.assertEqual(u.domains, ("example.com", "example.org"))
        raw = httpx.get(f"{URL}/v1/sso/connections/{c.id}", headers={"Authorization": "Bearer " + KEY}).text
        self.assertNotIn("test-secret", raw)
        self.assertIsNone(self.gx.sso.delete_connection(c.id))
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.get_connection(c.id)
        self.assertEqual((e.exception.status_code, e.exception.code), (404, "NOT_FOUND"))
        self.assertIsNotNone(e.exception.request_id)

    def test_ldap_and_saml_connections_parse(self):
        ldap = self.gx.sso.create_connection(CreateSsoConnectionParams(
            name="Directory", protocol="ldap", ldap_url="ldaps://127.0.0.1:6360", ldap_bind_dn="cn=svc,dc=example,dc=com",
            ldap_bind_password="svc-secret", ldap_search_base="ou=people,dc=example,dc=com",
            ldap_search_filter="(uid={{username}})", ldap_group_search_base="ou=groups,dc=example,dc=com",
            ldap_group_search_filter="(member={{dn}})", ldap_tls_enabled=True, domains=["corp.example"]))
        self.assertEqual(ldap.protocol, "ldap")
        self.assertEqual(ldap.ldap_search_filter, "(uid={{username}})")
        self.assertTrue(ldap.ldap_tls_enabled)
        raw = httpx.get(f"{URL}/v1/sso/connections/{ldap.id}", headers={"Authorization": "Bearer " + KEY}).text
        self.assertNotIn("svc-secret", raw)
        login = self.gx.sso.get_login_url(ORG, "corp.example")
        self.assertIsNone(login.authorize_url)
        self.assertEqual((login.protocol, login.connection_id), ("ldap", ldap.id))
        self.assertNotIn("6360", httpx.get(f"{URL}/sso/login?org={ORG}&domain=corp.example", headers={"Authorization": "Bearer " + KEY}).text)
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.create_connection(CreateSsoConnectionParams(name="Bad SAML", protocol="saml", idp_entity_id="https://idp"))
        self.assertEqual((e.exception.status_code, e.exception.code), (400, "VALIDATION_ERROR"))

    def test_test_connection_and_enforcement(self):
        bad = self.oidc(name="Dead", domains=["dead.example"], issuer=DEAD)
        t = self.gx.sso.test_connection(bad.id)
        self.assertFalse(t.success)
        self.assertEqual(t.protocol, "oidc")
        self.assertTrue(t.error)
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.set_enforcement(SsoEnforcementParams(enforce=True))
        self.assertEqual((e.exception.status_code, e.exception.code), (409, "SSO_NOT_READY"))
        good = self.oidc()
        t = self.gx.sso.test_connection(good.id)
        self.assertTrue(t.success, t.error)
        self.assertEqual(t.issuer, ISSUER)
        # The discovery facts the SDK parses.
        self.assertEqual(t.authorization_endpoint, ISSUER + "/auth")
        self.assertEqual(t.token_endpoint, ISSUER + "/token")
        self.assertEqual(t.jwks_uri, ISSUER + "/jwks")
        r = self.gx.sso.set_enforcement(SsoEnforcementParams(enforce=True))
        self.assertEqual((r.enforce, r.developer_id), (True, ORG))
        r = self.gx.sso.set_enforcement(SsoEnforcementParams(enforce=False))
        self.assertFalse(r.enforce)

    def test_oidc_login_sessions_and_revocation(self):
        c = self.oidc(group_mappings={"admins": ["admin:all"]}, default_scopes=["read"])
        login = self.gx.sso.get_login_url(SLUG, "example.com")
        self.assertEqual((login.protocol, login.connection_id), ("oidc", c.id))
        self.assertTrue(login.authorize_url.startswith(ISSUER))
        # carol: alice may already exist through the legacy connection of another test, and an
        # existing account is never linked to a second connection on an unverified domain
        code, state = code_and_state(walk(login.authorize_url, CALLBACK, "carol", "carol-password"))
        res = self.gx.sso.handle_oidc_callback(SsoOidcCallbackParams(code=code, state=state))
        self.assertEqual((res.email, res.sub, res.developer_id), ("carol@example.com", "carol", ORG))
        self.assertEqual(res.name, "Carol Example")
        self.assertEqual(res.mapped_scopes, ("read",))
        self.assertTrue(res.session_id.startswith("ssosess_"))
        self.assertTrue(res.principal_id.startswith("usr_"))
        self.assertEqual(me(res.session_token).status_code, 200)
        # the state is single use
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.handle_oidc_callback(SsoOidcCallbackParams(code=code, state=state))
        self.assertEqual((e.exception.status_code, e.exception.code), (400, "INVALID_STATE"))
        sessions = self.gx.sso.list_sessions().sessions
        s = [x for x in sessions if x.id == res.session_id][0]
        self.assertEqual((s.connection_id, s.idp_subject, s.email, s.principal_id), (c.id, "carol", "carol@example.com", res.principal_id))
        self.assertIsNone(self.gx.sso.revoke_session(res.session_id))
        self.assertEqual(me(res.session_token).status_code, 401)
        self.assertNotIn(res.session_id, [x.id for x in self.gx.sso.list_sessions().sessions])
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.revoke_session(res.session_id)
        self.assertEqual(e.exception.status_code, 404)

    def test_routing_and_errors(self):
        self.oidc()
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.get_login_url(ORG, "unknown.example")
        self.assertEqual((e.exception.status_code, e.exception.code), (404, "NOT_FOUND"))
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.get_login_url("some-other-org", "example.com")
        self.assertEqual(e.exception.status_code, 404)
        t0 = time.monotonic()
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.handle_oidc_callback(SsoOidcCallbackParams(code="x", state="forged-state"))
        self.assertEqual((e.exception.status_code, e.exception.code), (400, "INVALID_STATE"))
        self.assertLess(time.monotonic() - t0, 5)
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.handle_ldap_callback(SsoLdapCallbackParams(username="alice", password="x", connection_id="sso_01ARZ3NDEKTSV4RRFFQ69G5FAV", org=ORG))
        self.assertEqual(e.exception.status_code, 404)
        with client("ptk_not_a_key_at_all") as bad:
            with self.assertRaises(GrantexAuthError) as e:
                bad.sso.list_connections()
        self.assertEqual((e.exception.status_code, e.exception.code), (401, "UNAUTHORIZED"))

    def test_legacy_config_and_login(self):
        app_cb = "http://127.0.0.1:1/app/sso/callback"
        cfg = self.gx.sso.create_config(CreateSsoConfigParams(issuer_url=ISSUER, client_id="test-client", client_secret="test-secret", redirect_uri=app_cb))
        self.assertEqual((cfg.issuer_url, cfg.client_id, cfg.redirect_uri), (ISSUER, "test-client", app_cb))
        self.assertTrue(cfg.created_at and cfg.updated_at)
        self.assertEqual(self.gx.sso.get_config().issuer_url, ISSUER)
        login = self.gx.sso.get_login_url(ORG)
        self.assertIn("redirect_uri=" + httpx.QueryParams({"x": app_cb})["x"].replace(":", "%3A").replace("/", "%2F"), login.authorize_url)
        code, state = code_and_state(walk(login.authorize_url, app_cb))
        res = self.gx.sso.handle_callback(code, state)
        self.assertEqual((res.developer_id, res.email, res.sub), (ORG, "alice@example.com", "alice"))
        # the same default connection is what settings/sso shows
        s = httpx.get(f"{URL}/api/user/organizations/{ORG}/settings/sso", headers={"X-Api-Key": KEY}).json()
        self.assertEqual(s["data"]["issuerUrl"], ISSUER)
        self.assertIsNone(self.gx.sso.delete_config())
        with self.assertRaises(GrantexApiError) as e:
            self.gx.sso.get_config()
        self.assertEqual(e.exception.status_code, 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
