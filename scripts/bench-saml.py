#!/usr/bin/env python3
"""SAML SP-initiated logins end to end, for scripts/bench (standard library only).

  bench-saml.py --base URL --key API_KEY --idp-dir DIR --pid PORTICO_PID [--pg-dir DIR]
                [--slug dev] [--logins N] [--parallel P] [--prep-parallel P]

1. Creates a SAML connection through the API (POST /v1/sso/connections: the pysaml2 IdP of
   tests/peers/saml-idp.sh whose folder is --idp-dir, domain example.com, JIT on).
2. Prepares N+1 logins, untimed: for each, GET /api/auth/sso/SLUG/login?email=bob@example.com
   (the binding cookie is kept), the AuthnRequest ID read from the Location (HTTP-Redirect
   binding: base64 of raw DEFLATE) with its RelayState, and a signed response for that ID from the
   IdP's fixture endpoint (GET /response?kind=valid&user=bob&in_response_to=ID&sp=SP&acs=ACS).
3. Posts one of them (warm-up, checked), then times only the POSTs of the other N to the ACS
   (POST /api/auth/sso/callback, form SAMLResponse + RelayState, that login's binding cookie),
   P at a time over keep-alive connections. A login counts when the ACS answers 302 to the app
   (no error) with a session cookie; one of those sessions is then checked on /api/user/me.
4. Prints complete logins/s, ACS latency, and CPU per login from /proc: Portico's process
   (utime+stime), the embedded PostgreSQL's processes (postmaster and its children, when --pg-dir
   is given) and this load generator's own.
"""
import argparse
import base64
import glob
import http.client
import json
import os
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

HZ = os.sysconf("SC_CLK_TCK")
# bob: the OIDC section of scripts/bench already signed alice@example.com in through another
# connection of the same organization, and that account is not linked to a second IdP.
USER, EMAIL = "bob", "bob@example.com"


def die(msg):
    print(f"bench-saml: {msg}", file=sys.stderr)
    sys.exit(1)


def read_env(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, sep, v = line.rstrip("\n").partition("=")
            if sep:
                out[k] = v
    return out


class Client:
    """One keep-alive HTTP/1.1 connection per thread and host (reopened when the server closes it)."""

    def __init__(self):
        self.local = threading.local()

    def request(self, method, url, body=None, headers=None):
        u = urllib.parse.urlsplit(url)
        conns = self.local.__dict__.setdefault("conns", {})
        conn = conns.get(u.netloc)
        if conn is None:
            conn = conns[u.netloc] = http.client.HTTPConnection(u.netloc, timeout=60)
        path = u.path + ("?" + u.query if u.query else "")
        for attempt in (0, 1):
            try:
                conn.request(method, path, body=body, headers=headers or {})
                r = conn.getresponse()
                data = r.read()
                if r.will_close:
                    conn.close()
                return r.status, r.headers, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                if attempt:
                    raise


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)


def pg_pids(pg_dir):
    """The embedded cluster's postmaster and its children (backends, background workers)."""
    files = glob.glob(os.path.join(pg_dir, "**", "postmaster.pid"), recursive=True)
    if not files:
        return []
    with open(files[0]) as f:
        master = int(f.readline())
    pids = [master]
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if int(rest[1]) == master:
                pids.append(int(stat.split("/")[2]))
        except (OSError, ValueError, IndexError):
            pass
    return pids


def pg_ticks(pids):
    total = 0
    for p in pids:
        try:
            total += cpu_ticks(p)
        except OSError:
            pass  # a backend that exited meanwhile (the pool keeps its connections: rare)
    return total


def create_connection(c, base, key, idp_env):
    with open(idp_env["PORTICO_TEST_SAML_IDP_CERT_FILE"]) as f:
        cert = f.read()
    body = {
        "name": "Bench SAML",
        "protocol": "saml",
        "idpEntityId": idp_env["PORTICO_TEST_SAML_IDP_ENTITY_ID"],
        "idpSsoUrl": idp_env["PORTICO_TEST_SAML_IDP_SSO_URL"],
        "idpCertificate": cert,
        "domains": ["example.com"],
        "jitProvisioning": True,
    }
    status, _, data = c.request("POST", f"{base}/v1/sso/connections", json.dumps(body).encode(),
                                {"X-Api-Key": key, "Content-Type": "application/json"})
    if status != 201:
        die(f"creating the SAML connection: {status} {data[:500]!r}")
    return json.loads(data)


def prepare_one(c, base, slug, fixture_url, sp, acs):
    status, headers, data = c.request("GET", f"{base}/api/auth/sso/{slug}/login?email={urllib.parse.quote(EMAIL)}")
    if status != 302:
        raise RuntimeError(f"login start answered {status}: {data[:300]!r}")
    cookies = [v.split(";", 1)[0] for v in headers.get_all("Set-Cookie") or [] if v.startswith("portico_login_")]
    if len(cookies) != 1:
        raise RuntimeError(f"login start set no binding cookie: {headers.get_all('Set-Cookie')}")
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(headers["Location"]).query))
    request_xml = zlib.decompress(base64.b64decode(q["SAMLRequest"]), -15)
    request_id = ET.fromstring(request_xml).get("ID")
    relay_state = q.get("RelayState", "")
    if not request_id or not relay_state:
        raise RuntimeError(f"no request ID or RelayState in {headers['Location']}")
    fx = fixture_url + "?" + urllib.parse.urlencode(
        {"kind": "valid", "user": USER, "in_response_to": request_id, "sp": sp, "acs": acs})
    status, _, data = c.request("GET", fx)
    if status != 200:
        raise RuntimeError(f"IdP fixture answered {status}: {data[:300]!r}")
    form = urllib.parse.urlencode({"SAMLResponse": data.decode().strip(), "RelayState": relay_state}).encode()
    return form, cookies[0]


def run_pool(n_threads, items, work):
    """Runs work(item) over items with n_threads threads; returns the results in order."""
    results = [None] * len(items)
    lock = threading.Lock()
    nxt = [0]
    errors = []

    def worker():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(items) or errors:
                return
            try:
                results[i] = work(items[i])
            except Exception as e:  # report the first failure
                errors.append(e)
                return

    threads = [threading.Thread(target=worker) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--idp-dir", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--slug", default="dev")
    ap.add_argument("--logins", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=4)
    ap.add_argument("--prep-parallel", type=int, default=4)
    a = ap.parse_args()
    base = a.base.rstrip("/")
    idp_env = read_env(os.path.join(a.idp_dir, "env"))
    c = Client()

    conn = create_connection(c, base, a.key, idp_env)
    sp, acs = conn["spEntityId"], conn["spAcsUrl"]
    print(f"connection {conn['id']}: SP {sp}, ACS {acs}")

    t0 = time.monotonic()
    prepared = run_pool(a.prep_parallel, list(range(a.logins + 1)),
                        lambda _: prepare_one(c, base, a.slug, idp_env["PORTICO_TEST_SAML_FIXTURE_URL"], sp, acs))
    prep_s = time.monotonic() - t0
    print(f"prepared {len(prepared)} logins (login start + signed IdP response each) in {prep_s:.1f}s, untimed")
    if prep_s > 420:
        print("warning: preparation took over 7 minutes; the first responses are close to their"
              " 10-minute issue window (use fewer --saml-logins)", file=sys.stderr)

    app_url_marker = "error="

    def post(item):
        form, cookie = item
        t = time.perf_counter()
        status, headers, data = c.request("POST", acs, form, {
            "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
        dt = time.perf_counter() - t
        loc = headers.get("Location", "")
        session = next((v.split(";", 1)[0] for v in headers.get_all("Set-Cookie") or []
                        if v.startswith("portico_session=")), None)
        ok = status == 302 and app_url_marker not in loc and session is not None
        return ok, dt, session, f"{status} {loc} {data[:200]!r}"

    warm = post(prepared[0])
    if not warm[0]:
        die(f"warm-up login failed: {warm[3]}")
    # Fresh per-thread connections for the timed part are opened by the pool's own threads.
    items = prepared[1:]
    pgp = pg_pids(a.pg_dir) if a.pg_dir else []
    c0, p0, s0, t0 = cpu_ticks(a.pid), pg_ticks(pgp), os.times(), time.monotonic()
    results = run_pool(a.parallel, items, post)
    t1, s1, p1, c1 = time.monotonic(), os.times(), pg_ticks(pgp), cpu_ticks(a.pid)

    ok = [r for r in results if r[0]]
    failed = [r for r in results if not r[0]]
    if failed:
        print(f"{len(failed)} logins failed, first: {failed[0][3]}", file=sys.stderr)
    if ok:
        status, _, data = c.request("GET", f"{base}/api/user/me", headers={"Cookie": ok[-1][2]})
        me = json.loads(data) if status == 200 else {}
        email = me.get("data", {}).get("user", {}).get("email")
        method = me.get("data", {}).get("authentication", {}).get("method")
        if email != EMAIL or method != "saml":
            die(f"a session from the ACS does not work on /api/user/me: {status} {data[:300]!r}")
    lat = sorted(r[1] for r in results)
    n, wall = len(ok), t1 - t0
    per = max(n, 1)
    self_ticks = (s1.user - s0.user) + (s1.system - s0.system)
    print(f"SAML logins: {n}/{len(items)} succeeded in {wall:.2f}s = {n / wall:.1f} logins/s "
          f"({a.parallel} at a time; ACS POST p50 {lat[len(lat) // 2] * 1000:.2f} ms, "
          f"p99 {lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000:.2f} ms)")
    pg = f"; PostgreSQL CPU per login: {(p1 - p0) * 1000 / HZ / per:.2f} ms" if pgp else ""
    print(f"SAML Portico CPU per login: {(c1 - c0) * 1000 / HZ / per:.2f} ms{pg}; "
          f"load generator CPU per login: {self_ticks * 1000 / per:.2f} ms")
    sys.exit(0 if n == len(items) else 1)


if __name__ == "__main__":
    main()
