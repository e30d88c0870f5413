#!/usr/bin/env python3
"""Complete app logins through Portico as the OpenID Provider, for scripts/bench (standard library).

  bench-provider.py --base URL --client-id ID --redirect-uri URI   (secret: env PROVIDER_CLIENT_SECRET)
                    --pid PORTICO_PID --idp-pid OIDC_PROVIDER_PID [--pg-dir DIR]
                    [--organization dev] [--logins N] [--parallel P] [--email alice@example.com]

Each login is what an application and a fresh browser do (the browser keeps its cookies per
host:port, like a private window; P browsers run at once, each a thread with keep-alive
connections, the HTTP client of scripts/bench-saml.py's python driver):
  1. the app sends the browser to GET /oauth2/authorize (code flow, state, nonce, PKCE S256,
     organization=ORG: routed straight to the organization's OIDC IdP, the real oidc-provider in
     auto-login mode);
  2. the browser follows every redirect: the IdP's authorize and interaction steps, Portico's
     callback, its resume step, until Portico sends it to the app's redirect_uri with code, state
     and iss (checked);
  3. the app exchanges the code at POST /oauth2/token (client_secret_basic + code_verifier) and
     checks the ID token's aud and nonce;
  4. the app calls GET /oauth2/userinfo with the access token (sub must match, email checked).
A login counts only when all of that succeeded. One login is run untimed first (warm-up: the IdP's
discovery and JWKS in Portico's cache, connections open).

Prints logins/s, p50/p99 of the whole login, of the token and userinfo calls and of Portico's own
hops (authorize + callback + resume + token + userinfo, summed per login), and CPU per login from
/proc: Portico's process, the oidc-provider's, the embedded PostgreSQL's (--pg-dir) and this
driver's own, with how busy the machine was.
"""
import argparse
import base64
import hashlib
import importlib.util
import json
import os
import secrets
import sys
import time
import urllib.parse

_spec = importlib.util.spec_from_file_location(
    "bench_saml", os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench-saml.py"))
bench_saml = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_saml)
Client, Cpu, run_pool, cpu_ticks, HZ = (bench_saml.Client, bench_saml.Cpu, bench_saml.run_pool,
                                         bench_saml.cpu_ticks, bench_saml.HZ)


def die(msg):
    print(f"bench-provider: {msg}", file=sys.stderr)
    sys.exit(1)


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_claims(token):
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


class Browser:
    """A fresh browser: cookies kept per host:port (names and values; loopback only)."""

    def __init__(self, c):
        self.c, self.jar = c, {}

    def get(self, url):
        netloc = urllib.parse.urlsplit(url).netloc
        cookies = self.jar.get(netloc, {})
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        status, h, data = self.c.request("GET", url, headers=headers)
        for line in h.get_all("Set-Cookie") or []:
            pair, _, attrs = line.partition(";")
            name, _, value = pair.strip().partition("=")
            gone = "max-age=0" in attrs.lower().replace(" ", "") or "1970" in attrs
            if gone or not value:
                self.jar.get(netloc, {}).pop(name, None)
            else:
                self.jar.setdefault(netloc, {})[name] = value
        return status, h, data


def login(c, a, base_netloc):
    """One complete login: (ok, times, description). times: whole, token, userinfo, Portico's hops."""
    verifier = b64url(secrets.token_bytes(32))
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    state, nonce = b64url(secrets.token_bytes(12)), b64url(secrets.token_bytes(12))
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": a.client_id, "redirect_uri": a.redirect_uri,
        "scope": "openid email", "state": state, "nonce": nonce, "organization": a.organization,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    b = Browser(c)
    t0 = time.perf_counter()
    portico = 0.0
    url = f"{a.base}/oauth2/authorize?{q}"
    for _ in range(30):
        t = time.perf_counter()
        status, h, data = b.get(url)
        dt = time.perf_counter() - t
        here = urllib.parse.urlsplit(url)
        if here.netloc == base_netloc:
            portico += dt
        if status not in (302, 303):
            return False, None, f"{status} at {url}: {data[:300]!r}"
        url = urllib.parse.urljoin(url, h["Location"])
        if url.startswith(a.redirect_uri):
            break
    else:
        return False, None, f"never came back to the app (last: {url})"
    back = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if back.get("state") != state or back.get("iss") != a.base or "code" not in back:
        return False, None, f"bad authorization response: {url}"
    auth = base64.b64encode(f"{a.client_id}:{a.client_secret}".encode()).decode()
    form = urllib.parse.urlencode({
        "grant_type": "authorization_code", "code": back["code"], "redirect_uri": a.redirect_uri,
        "code_verifier": verifier}).encode()
    t = time.perf_counter()
    status, _, data = c.request("POST", f"{a.base}/oauth2/token", form, {
        "Authorization": f"Basic {auth}", "Content-Type": "application/x-www-form-urlencoded"})
    t_token = time.perf_counter() - t
    if status != 200:
        return False, None, f"token: {status} {data[:300]!r}"
    tokens = json.loads(data)
    claims = jwt_claims(tokens["id_token"])
    if claims.get("aud") != a.client_id or claims.get("nonce") != nonce:
        return False, None, f"ID token claims: {claims}"
    t = time.perf_counter()
    status, _, data = c.request("GET", f"{a.base}/oauth2/userinfo",
                                headers={"Authorization": f"Bearer {tokens['access_token']}"})
    t_userinfo = time.perf_counter() - t
    whole = time.perf_counter() - t0
    info = json.loads(data) if status == 200 else {}
    if info.get("sub") != claims.get("sub") or info.get("email") != a.email:
        return False, None, f"userinfo: {status} {data[:300]!r}"
    return True, (whole, t_token, t_userinfo, portico + t_token + t_userinfo), ""


def pct(sorted_s, p):
    return sorted_s[min(len(sorted_s) - 1, int(p / 100 * len(sorted_s)))] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--redirect-uri", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--idp-pid", type=int, required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--organization", default="dev")
    ap.add_argument("--email", default="alice@example.com")
    ap.add_argument("--logins", type=int, default=300)
    ap.add_argument("--parallel", type=int, default=8)
    a = ap.parse_args()
    a.client_secret = os.environ.get("PROVIDER_CLIENT_SECRET") or die("PROVIDER_CLIENT_SECRET is not set")
    base_netloc = urllib.parse.urlsplit(a.base).netloc
    c = Client()
    ok, _, why = login(c, a, base_netloc)
    if not ok:
        die(f"the warm-up login failed: {why}")
    cpu = Cpu(a.pid, a.pg_dir)
    before, idp0 = cpu.snap(), cpu_ticks(a.idp_pid)
    t0 = time.monotonic()
    results = run_pool(a.parallel, range(a.logins), lambda _: login(c, a, base_netloc))
    wall = time.monotonic() - t0
    after, idp1 = cpu.snap(), cpu_ticks(a.idp_pid)
    good = [r[1] for r in results if r[0]]
    bad = [r[2] for r in results if not r[0]]
    if bad:
        print(f"{len(bad)} logins failed, first: {bad[0]}", file=sys.stderr)
    if not good:
        die("no login succeeded")
    n = len(good)
    cols = [sorted(t[i] for t in good) for i in range(4)]
    spent = Cpu.spent(before, after)
    ms = lambda ticks: ticks * 1000 / HZ / n  # noqa: E731
    busy, stolen = Cpu.machine(before, after)
    print(f"provider logins: {n}/{a.logins} succeeded in {wall:.2f}s = {n / wall:.1f} logins/s "
          f"({a.parallel} browsers)")
    print("provider latency p50/p99: login {:.1f}/{:.1f} ms, token {:.1f}/{:.1f} ms, userinfo "
          "{:.1f}/{:.1f} ms, Portico's hops {:.1f}/{:.1f} ms".format(
              pct(cols[0], 50), pct(cols[0], 99), pct(cols[1], 50), pct(cols[1], 99),
              pct(cols[2], 50), pct(cols[2], 99), pct(cols[3], 50), pct(cols[3], 99)))
    pg = f", PostgreSQL {ms(spent[1]):.2f} ms" if a.pg_dir else ""
    print(f"provider CPU per login: Portico {ms(spent[0]):.2f} ms; oidc-provider {ms(idp1 - idp0):.2f} ms"
          f"{pg}; driver {ms(spent[2]):.2f} ms (machine {busy * 100:.0f}% busy, {stolen * 100:.0f}% stolen)")
    sys.exit(0 if not bad else 1)


if __name__ == "__main__":
    main()
