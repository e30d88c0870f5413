#!/usr/bin/env python3
"""SAML SP-initiated logins end to end, for scripts/bench (standard library, plus wrk).

  bench-saml.py --base URL --key API_KEY --idp-dir DIR --pid PORTICO_PID [--pg-dir DIR]
                [--slug dev] [--logins N] [--parallel C] [--prep-parallel P] [--fixture-url URL ...]
                [--driver wrk|python] [--wrk-threads T]

1. Creates a SAML connection through the API (POST /v1/sso/connections: the pysaml2 IdP of
   tests/peers/saml-idp.sh whose folder is --idp-dir, domain example.com, JIT on).
2. Prepares N+2 logins, untimed: for each, GET /api/auth/sso/SLUG/login?email=bob@example.com
   (the binding cookie is kept), the AuthnRequest ID read from the Location (HTTP-Redirect
   binding: base64 of raw DEFLATE) with its RelayState, and a signed response for that ID from the
   IdP's fixture endpoint (GET /response?kind=valid&user=bob&in_response_to=ID&sp=SP&acs=ACS), or
   in turn from the --fixture-url endpoints of more IdP processes with the same key and entity ID.
3. Posts one of them (warm-up: checked, and its session checked on /api/user/me), then times only
   the POSTs of N others to the ACS (POST /api/auth/sso/callback, form SAMLResponse + RelayState,
   that login's binding cookie) over C keep-alive connections, each prepared login exactly once:
   - driver wrk (default): wrk with scripts/bench-saml.lua (T threads; the requests are built in
     its init from a file, the timed part is C-in-flight POSTs and counting the answers). A
     login counts when the ACS answers 302 to the app without ?error=;
   - driver python: this script's own threads over http.client (the old load generator: it
     costs far more CPU per request, on the same cores as the server);
   then checks that the successes are real: the organization's live SAML sessions (listed
   through the API) grew by exactly the logins counted, and the last prepared login, posted
   afterwards, yields a session that works on /api/user/me.
4. Prints complete logins/s, ACS latency (p50/p99), and CPU per login from /proc: Portico's
   process (utime+stime), the embedded PostgreSQL's processes (postmaster and its children, when
   --pg-dir is given, exited ones included) and the load generator's (wrk's process including
   its reading of the requests, or this script's own); and how busy the machine was, and how much
   of it the hypervisor took (steal: the VM's figures swing with it).
"""
import argparse
import base64
import glob
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
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


def pg_ticks(pg_dir):
    """{key: CPU ticks} of the cluster now: each live process by (pid, "backend" or "background"),
    and ("exited", "background"): what the postmaster's exited children used (cutime + cstime;
    autovacuum workers come and go). A process started during the run counts from zero."""
    out = {}
    pids = pg_pids(pg_dir)
    for p in pids:
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
            kind = "backend" if "(" in title or "[local]" in title else "background"
            out[(p, kind)] = cpu_ticks(p)
        except OSError:
            pass
    if pids:
        try:
            with open(f"/proc/{pids[0]}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            out[("exited", "background")] = int(rest[13]) + int(rest[14])  # cutime, cstime (16, 17)
        except OSError:
            pass
    return out


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


def saml_sessions(c, base, key, org):
    """How many live SAML sessions the organization has (every page of the sessions API)."""
    n, cursor = 0, None
    while True:
        q = "?limit=200" + (f"&cursor={cursor}" if cursor else "")
        status, _, data = c.request("GET", f"{base}/api/user/organizations/{org}/sessions{q}",
                                    headers={"X-Api-Key": key})
        if status != 200:
            die(f"listing sessions: {status} {data[:300]!r}")
        body = json.loads(data)
        n += sum(1 for s in body["data"] if s.get("method") == "saml")
        cursor = (body.get("pagination") or {}).get("nextCursor")
        if not cursor:
            return n


def post_login(c, acs, item):
    """POSTs one prepared login: (ok, seconds, session cookie, description)."""
    form, cookie = item
    t = time.perf_counter()
    status, headers, data = c.request("POST", acs, form, {
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    dt = time.perf_counter() - t
    loc = headers.get("Location", "")
    session = next((v.split(";", 1)[0] for v in headers.get_all("Set-Cookie") or []
                    if v.startswith("portico_session=")), None)
    ok = status == 302 and "error=" not in loc and session is not None
    return ok, dt, session, f"{status} {loc} {data[:200]!r}"


def check_session(c, base, cookie):
    status, _, data = c.request("GET", f"{base}/api/user/me", headers={"Cookie": cookie})
    me = json.loads(data) if status == 200 else {}
    email = me.get("data", {}).get("user", {}).get("email")
    method = me.get("data", {}).get("authentication", {}).get("method")
    if email != EMAIL or method != "saml":
        die(f"a session from the ACS does not work on /api/user/me: {status} {data[:300]!r}")


def machine_ticks():
    """The machine's CPU ticks from /proc/stat: (busy, idle, steal)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return sum(v[:3]) + sum(v[5:7]), v[3] + v[4], v[7]


class Cpu:
    """CPU ticks of Portico, the embedded PostgreSQL (per process) and the load generator."""

    def __init__(self, pid, pg_dir, gen_pid=None):
        self.pid, self.pg_dir, self.gen_pid = pid, pg_dir, gen_pid

    def snap(self):
        if self.gen_pid:
            gen = cpu_ticks(self.gen_pid)
        else:
            t = os.times()
            gen = (t.user + t.system) * HZ
        return cpu_ticks(self.pid), pg_ticks(self.pg_dir) if self.pg_dir else {}, gen, machine_ticks()

    @staticmethod
    def spent(before, after):
        """Ticks spent between two snaps: (Portico, PostgreSQL, load generator, PostgreSQL's
        backends)."""
        pg = {k: t - before[1].get(k, 0) for k, t in after[1].items()}
        backends = sum(t for (_, kind), t in pg.items() if kind == "backend")
        return after[0] - before[0], sum(pg.values()), after[2] - before[2], backends

    @staticmethod
    def machine(before, after):
        """The machine during the run: (busy share, share stolen by the hypervisor), 0-1."""
        busy, idle, steal = (a - b for a, b in zip(after[3], before[3]))
        total = max(busy + idle + steal, 1)
        return busy / total, steal / total


def run_python(c, acs, items, parallel):
    """The timed POSTs with this script's threads: (ok, failed, wall s, latencies s, first failure)."""
    t0 = time.monotonic()
    results = run_pool(parallel, items, lambda item: post_login(c, acs, item))
    wall = time.monotonic() - t0
    failed = [r for r in results if not r[0]]
    return (len(results) - len(failed), len(failed), wall, sorted(r[1] for r in results),
            failed[0][3] if failed else "")


def run_wrk(base, acs, items, connections, threads, cpu, timeout):
    """The timed POSTs with wrk: (ok, failed, wall s, (p50 s, p99 s), first failure, cpu before, after)."""
    path = urllib.parse.urlsplit(acs).path
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix="bench-saml-") as tmp:
        req_file = os.path.join(tmp, "requests.tsv")
        with open(req_file, "w") as f:
            for form, cookie in items:
                f.write(f"{path}\t{cookie}\t{form.decode()}\n")
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{timeout}s", "--timeout", "30s", "--latency",
               "-s", os.path.join(here, "bench-saml.lua"), base, "--", req_file, str(threads)]
        before = cpu.snap()  # Portico and PostgreSQL are idle until wrk's first request
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        cpu.gen_pid = proc.pid
        deadline = time.monotonic() + timeout
        done, lines = [], []
        gen0 = cpu_ticks(proc.pid)
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("DONE "):
                done.append(line.split(" ", 6))
                if len(done) == threads:
                    break
            if time.monotonic() > deadline:
                break
        after = cpu.snap()
        proc.send_signal(signal.SIGINT)  # wrk sleeps for -d otherwise; SIGINT ends it at once
        lines += [l.rstrip("\n") for l in proc.stdout]
        proc.wait()
    if len(done) != threads:
        die("wrk did not get every answer:\n" + "\n".join(lines[-20:]))
    ok = sum(int(d[2]) for d in done)
    failed = sum(int(d[3]) for d in done)
    wall = (max(int(d[5]) for d in done) - min(int(d[4]) for d in done)) / 1e6
    first_failure = next((d[6].strip() for d in done if len(d) > 6 and d[6].strip()), "")
    lat = next((l for l in lines if l.startswith("LATENCY_US ")), "")
    vals = dict(kv.split("=") for kv in lat.split()[1:])
    errors = next((l for l in lines if l.startswith("ERRORS ")), "ERRORS ?")
    if any(not kv.endswith("=0") for kv in errors.split()[1:]):
        print(f"wrk {errors}", file=sys.stderr)
    return (ok, failed, wall, (float(vals.get("p50", 0)) / 1e6, float(vals.get("p99", 0)) / 1e6), first_failure,
            (before[0], before[1], gen0, before[3]), after)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--idp-dir", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--pg-dir")
    ap.add_argument("--slug", default="dev")
    ap.add_argument("--logins", type=int, default=1000)
    ap.add_argument("--parallel", type=int, default=8, help="connections (requests in flight)")
    ap.add_argument("--prep-parallel", type=int, default=4)
    ap.add_argument("--fixture-url", action="append", default=[],
                    help="more fixture endpoints of IdP processes with the same key and entity ID")
    ap.add_argument("--driver", choices=("wrk", "python"), default="wrk")
    ap.add_argument("--wrk-threads", type=int, default=1)
    a = ap.parse_args()
    base = a.base.rstrip("/")
    idp_env = read_env(os.path.join(a.idp_dir, "env"))
    c = Client()
    if a.driver == "wrk" and (a.parallel % a.wrk_threads or a.logins < a.wrk_threads):
        die("--parallel must be a multiple of --wrk-threads, and --logins at least --wrk-threads")

    conn = create_connection(c, base, a.key, idp_env)
    sp, acs = conn["spEntityId"], conn["spAcsUrl"]
    print(f"connection {conn['id']}: SP {sp}, ACS {acs}")

    t0 = time.monotonic()
    fixtures = [idp_env["PORTICO_TEST_SAML_FIXTURE_URL"]] + a.fixture_url
    prepared = run_pool(a.prep_parallel, list(range(a.logins + 2)),
                        lambda i: prepare_one(c, base, a.slug, fixtures[i % len(fixtures)], sp, acs))
    prep_s = time.monotonic() - t0
    print(f"prepared {len(prepared)} logins (login start + signed IdP response each) in {prep_s:.1f}s, untimed")
    if prep_s > 420:
        print("warning: preparation took over 7 minutes; the first responses are close to their"
              " 10-minute issue window (use fewer --saml-logins)", file=sys.stderr)

    warm = post_login(c, acs, prepared[0])
    if not warm[0]:
        die(f"warm-up login failed: {warm[3]}")
    check_session(c, base, warm[2])
    org = conn.get("organizationId") or conn.get("developerId")
    sessions0 = saml_sessions(c, base, a.key, org) if org else None
    items, last = prepared[1:-1], prepared[-1]
    cpu = Cpu(a.pid, a.pg_dir)
    if a.driver == "wrk":
        timeout = 60 + a.logins // 50
        n, nfail, wall, (p50, p99), first_failure, before, after = run_wrk(
            base, acs, items, a.parallel, a.wrk_threads, cpu, timeout)
        how = f"wrk, {a.parallel} connections, {a.wrk_threads} thread(s)"
    else:
        before = cpu.snap()
        n, nfail, wall, lat, first_failure = run_python(c, acs, items, a.parallel)
        after = cpu.snap()
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        how = f"python threads, {a.parallel} at a time"
    if nfail:
        print(f"{nfail} logins failed, first: {first_failure}", file=sys.stderr)

    # The successes are real: as many new live SAML sessions, and the pipeline still works.
    if sessions0 is not None:
        grew = saml_sessions(c, base, a.key, org) - sessions0
        if grew != n:
            die(f"{n} logins counted but the organization has {grew} new SAML sessions")
    tail = post_login(c, acs, last)
    if not tail[0]:
        die(f"the login after the run failed: {tail[3]}")
    check_session(c, base, tail[2])

    per = max(n, 1)
    ms = [t * 1000 / HZ / per for t in Cpu.spent(before, after)]
    print(f"SAML logins: {n}/{len(items)} succeeded in {wall:.2f}s = {n / wall:.1f} logins/s "
          f"({how}; ACS POST p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms)"
          + ("; sessions checked" if sessions0 is not None else ""))
    pg = (f"; PostgreSQL CPU per login: {ms[1]:.2f} ms ({ms[3]:.2f} in the backends)" if a.pg_dir else "")
    busy, stolen = Cpu.machine(before, after)
    print(f"SAML Portico CPU per login: {ms[0]:.2f} ms{pg}; load generator CPU per login: {ms[2]:.2f} ms "
          f"(the {os.cpu_count()} cores {busy:.0%} busy, {stolen:.0%} stolen by the hypervisor)")
    sys.exit(0 if n == len(items) else 1)


if __name__ == "__main__":
    main()
