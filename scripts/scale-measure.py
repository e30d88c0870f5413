#!/usr/bin/env python3
"""Interleaved measurement for scripts/scale (issue 19): the same requests against two Portico
servers, one on a near-empty database and one on a large one, alternating which goes first in
each round. For every path it reports CPU per request (Portico's threads plus the PostgreSQL
backends of that database, from /proc/<pid>/task/*/schedstat: nanoseconds, not clock ticks) and
the client-side p50/p99 of sequential requests (one in flight, so no queueing is measured), and
the large/empty ratios. It also reports WAL bytes per SSO sign-in.

Not a test: figures for the README. Standard library only."""

import argparse
import http.client
import http.cookiejar
import json
import os
import subprocess
import sys
import time
import urllib.request

ADMIN_KEY = "ptk_scaleadm_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
SDK_KEY = "ptk_scalesdk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
BIG_ORG = "00SCA1EB1G0000000000000000"
SMALL_ORG = "00SCA1ESMA1100000000000000"


def cpu_ns(pid):
    """CPU time of every thread of `pid`, in nanoseconds (0 if it is gone)."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return 0
    return total


class Server:
    def __init__(self, name, base, pid, db, psql):
        self.name, self.base, self.pid, self.db, self.psql = name, base, pid, db, psql
        host, port = base.split("//")[1].split(":")
        self.host, self.port = host, int(port)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def backends(self):
        out = subprocess.run(
            self.psql + ["-Atc", f"SELECT pid FROM pg_stat_activity WHERE datname = '{self.db}'"],
            check=True, capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    def cpu(self):
        """(Portico ns, {backend pid: ns})"""
        return cpu_ns(self.pid), {p: cpu_ns(p) for p in self.backends()}

    def request(self, method, path, headers=None, body=None):
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def wal(self):
        out = subprocess.run(self.psql + ["-Atc", "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"],
                             check=True, capture_output=True, text=True).stdout
        return int(float(out.strip()))


def sso_login(server, slug):
    """One browser sign-in through the auto-login oidc-provider; True when it lands on app.url."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{server.base}/api/auth/sso/{slug}/login", timeout=30) as r:
        r.read()
        if os.environ.get("SCALE_DEBUG"):
            print(f"sign-in landed on {r.url}", file=sys.stderr)
        return r.url.endswith("/healthz") and "error=" not in r.url


def paths(deep_cursor):
    j = {"content-type": "application/json"}
    a = {"X-Api-Key": ADMIN_KEY}
    s = {"X-Api-Key": SDK_KEY}
    return [
        ("GET /api/user/me", "GET", "/api/user/me", a, None),
        ("GET /api/user/organizations", "GET", "/api/user/organizations", a, None),
        ("members, first page (10k-member org)", "GET", f"/api/user/organizations/{BIG_ORG}/members?limit=50", a, None),
        ("members, deep page (cursor at 9,000)", "GET",
         f"/api/user/organizations/{BIG_ORG}/members?limit=50&cursor={deep_cursor}", a, None),
        ("org sessions (14-member org)", "GET", f"/api/user/organizations/{SMALL_ORG}/sessions?limit=20", a, None),
        ("org sessions (10k-member org)", "GET", f"/api/user/organizations/{BIG_ORG}/sessions?limit=50", a, None),
        ("audit events, first page", "GET", f"/api/user/organizations/{SMALL_ORG}/audit-events?limit=20", a, None),
        ("domain discovery", "POST", "/api/auth/sign-in/discover", j,
         json.dumps({"email": "member1@small.scale.test"})),
        ("SDK GET /v1/sso/sessions", "GET", "/v1/sso/sessions", s, None),
        ("SDK GET /v1/sso/connections", "GET", "/v1/sso/connections", s, None),
    ]


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def measure(server, fn, n):
    p0, b0 = server.cpu()
    lat = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        lat.append((time.perf_counter_ns() - t) / 1e6)
    p1, b1 = server.cpu()
    pg = sum(v - b0.get(k, 0) for k, v in b1.items())
    return p1 - p0, pg, lat


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--empty", required=True, help="name=base,pid,db")
    ap.add_argument("--large", required=True)
    ap.add_argument("--psql", required=True, help="psql command prefix (space separated)")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=4)
    a = ap.parse_args()
    psql = a.psql.split()
    servers = []
    for name, spec in (("empty", a.empty), ("large", a.large)):
        base, pid, db = spec.split(",")
        servers.append(Server(name, base, int(pid), db, psql + ["-d", db]))
    deep = "usr_00SCA1EB" + f"{9000:018d}"
    plist = paths(deep)
    acc = {}  # (path, server) -> [portico ns, pg ns, count, latencies]
    wal = {s.name: [0, 0] for s in servers}
    for s in servers:  # warm: caches, pools, the first (JIT) sign-in of alice
        for _, m, p, h, b in plist:
            st, body = s.request(m, p, h, b)
            if st >= 300:
                sys.exit(f"{s.name}: {m} {p} answered {st}: {body[:300]!r}")
        try:
            ok = sso_login(s, "scale-small")
        except Exception as e:  # an HTTP error page: say which
            sys.exit(f"{s.name}: the warm-up SSO sign-in failed: {e} {getattr(e, 'url', '')} "
                     f"{getattr(e, 'read', lambda: b'')()[:300]!r}")
        if not ok:
            sys.exit(f"{s.name}: the warm-up SSO sign-in did not land on app.url")
    for rnd in range(a.rounds):
        order = servers if rnd % 2 == 0 else servers[::-1]
        for label, m, p, h, b in plist:
            for s in order:
                def one(s=s, m=m, p=p, h=h, b=b):
                    st, body = s.request(m, p, h, b)
                    if st >= 300:
                        sys.exit(f"{s.name}: {m} {p} answered {st}: {body[:300]!r}")
                pn, gn, lat = measure(s, one, a.requests)
                e = acc.setdefault((label, s.name), [0, 0, 0, []])
                e[0] += pn; e[1] += gn; e[2] += a.requests; e[3] += lat
        label = "SSO sign-in, returning (OIDC, browser)"
        for s in order:
            w0 = s.wal()
            ok = []

            def one(s=s):
                ok.append(sso_login(s, "scale-small"))
            pn, gn, lat = measure(s, one, a.logins)
            w1 = s.wal()
            if not all(ok):
                sys.exit(f"{s.name}: {ok.count(False)} SSO sign-ins failed")
            wal[s.name][0] += w1 - w0
            wal[s.name][1] += a.logins
            e = acc.setdefault((label, s.name), [0, 0, 0, []])
            e[0] += pn; e[1] += gn; e[2] += a.logins; e[3] += lat
        print(f"round {rnd + 1}/{a.rounds} done", file=sys.stderr)

    labels = [p[0] for p in plist] + ["SSO sign-in, returning (OIDC, browser)"]
    print("| path | CPU/request empty (Portico + PostgreSQL) | large | ratio | p99 empty | p99 large | ratio |")
    print("|---|---|---|---|---|---|---|")
    worst_cpu = worst_p99 = 0.0
    for label in labels:
        pe, ge, ne, le = acc[(label, "empty")]
        pl, gl, nl, ll = acc[(label, "large")]
        ce, cl = (pe + ge) / ne / 1e3, (pl + gl) / nl / 1e3
        q_e, q_l = pct(le, 0.99), pct(ll, 0.99)
        rc, rq = cl / ce, q_l / q_e
        worst_cpu, worst_p99 = max(worst_cpu, abs(rc - 1)), max(worst_p99, abs(rq - 1))
        print(f"| {label} | {ce:.0f} µs ({pe / ne / 1e3:.0f} + {ge / ne / 1e3:.0f}) | "
              f"{cl:.0f} µs ({pl / nl / 1e3:.0f} + {gl / nl / 1e3:.0f}) | {rc:.2f} | "
              f"{q_e:.2f} ms | {q_l:.2f} ms | {rq:.2f} |")
    for s in servers:
        b, n = wal[s.name]
        print(f"WAL per SSO sign-in ({s.name}): {b / n / 1024:.1f} KiB (cluster-wide, {n} sign-ins)")
    print(f"SCALE worst deviation: CPU {worst_cpu * 100:.0f} %, p99 {worst_p99 * 100:.0f} % "
          f"({a.rounds} interleaved rounds x {a.requests} requests / {a.logins} sign-ins per path and database)")


if __name__ == "__main__":
    main()
