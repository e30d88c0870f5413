"""Drives Portico as an OpenID Provider with authlib (PyPI): discovery, PKCE S256, the ID token
validated by authlib's own JWT code against the JWKS, userinfo, refresh, revocation.
argv: issuer client_id client_secret redirect_uri organization; same stdin/stdout protocol as rp.mjs."""
import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

issuer, client_id, secret, redirect_uri, organization = sys.argv[1:6]
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer
s = OAuth2Session(client_id, secret, scope="openid email profile organization offline_access",
                  redirect_uri=redirect_uri, code_challenge_method="S256",
                  token_endpoint_auth_method="client_secret_post")
verifier = generate_token(48)
nonce = generate_token(20)
url, state = s.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce,
                                        organization=organization)
print(json.dumps({"authorize": url}), flush=True)
cb = sys.stdin.readline().strip()
assert "iss=" in cb
tok = s.fetch_token(meta["token_endpoint"], authorization_response=cb, code_verifier=verifier, state=state)
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
claims = jwt.decode(tok["id_token"], jwks, claims_cls=CodeIDToken,
                    claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
                    claims_params={"nonce": nonce, "client_id": client_id})
claims.validate(leeway=5)
ui = s.get(meta["userinfo_endpoint"]).json()
new = s.refresh_token(meta["token_endpoint"], refresh_token=tok["refresh_token"])
s.revoke_token(meta["revocation_endpoint"], new["refresh_token"], token_type_hint="refresh_token")
after = requests.get(meta["userinfo_endpoint"], headers={"Authorization": "Bearer " + new["access_token"]}, timeout=10)
print(json.dumps({"claims": dict(claims), "userinfo": ui, "refreshed": bool(new.get("access_token")),
                  "revoked_status": after.status_code}), flush=True)
