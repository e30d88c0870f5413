#!/usr/bin/env python3
"""SCIM benchmark (scripts/bench, SCIM section): a directory created through the Organization API,
then, over P (8) persistent connections:

1. an initial sync as Okta sends it: N (10,000) POST /Users with Okta's create payload, then G (200)
   POST /Groups and PATCHes adding each group's members (50 per PATCH) — users/s, p50/p99;
2. M (1,000) mixed PATCHes: half user changes (displayName / active), half group membership
   add/remove — p50/p99;
3. the same list and filter queries (GET /Users?filter=userName eq "…", GET /Users?count=100) timed
   in a directory of 10 users and in one of L (100,000) users (filled through the API, untimed):
   p50/p99 of 500 queries each.

Standard library only; everything on loopback.
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time
import urllib.parse


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000 if xs else float("nan")


class Conn:
    def __init__(self, base, token):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.prefix = u.hostname, u.port, u.path
        self.token = token
        self.c = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def req(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/scim+json"
        for attempt in range(2):
            try:
                t0 = time.perf_counter()
                self.c.request(method, self.prefix + path, body=data, headers=headers)
                r = self.c.getresponse()
                text = r.read()
                return r.status, text, time.perf_counter() - t0
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def run_parallel(base, token, jobs, parallel):
    """Runs callables job(conn) -> (status, seconds) over `parallel` connections."""
    lat, errors, lock = [], [], threading.Lock()
    it = iter(jobs)

    def worker():
        c = Conn(base, token)
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            status, secs, want = job(c)
            with lock:
                lat.append(secs)
                if status != want:
                    errors.append(status)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return lat, errors, time.perf_counter() - t0


def okta_user(i, domain):
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": f"user{i}@{domain}",
        "name": {"givenName": "Test", "familyName": f"User{i}"},
        "emails": [{"primary": True, "value": f"user{i}@{domain}", "type": "work"}],
        "displayName": f"Test User {i}",
        "locale": "en-US",
        "externalId": f"00u{i:017d}",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }


def directory(api_base, key, org, name):
    u = urllib.parse.urlparse(api_base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("POST", f"/api/user/organizations/{org}/directories",
              body=json.dumps({"name": name, "provider": "okta"}),
              headers={"X-Api-Key": key, "Content-Type": "application/json"})
    r = c.getresponse()
    d = json.loads(r.read())["data"]
    return d["scimBaseUrl"], d["token"]


def create_users(base, token, n, parallel, domain, start=0):
    ids = [None] * n

    def job(i):
        def f(c):
            s, body, secs = c.req("POST", "/Users", okta_user(start + i, domain))
            if s == 201:
                ids[i] = json.loads(body)["id"]
            return s, secs, 201
        return f

    lat, errors, wall = run_parallel(base, token, (job(i) for i in range(n)), parallel)
    return ids, lat, errors, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--org", required=True)
    ap.add_argument("--users", type=int, default=10000)
    ap.add_argument("--groups", type=int, default=200)
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--large", type=int, default=100000)
    ap.add_argument("--parallel", type=int, default=8)
    a = ap.parse_args()

    base, token = directory(a.base, a.key, a.org, "bench sync")
    ids, lat, errors, wall = create_users(base, token, a.users, a.parallel, "sync.bench")
    print(f"SCIM initial sync: {a.users} users in {wall:.2f}s = {a.users / wall:.0f} users/s, "
          f"POST /Users p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms, errors {len(errors)}")

    gids = [None] * a.groups

    def gjob(g):
        def f(c):
            s, body, secs = c.req("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                       "displayName": f"Group {g}", "members": []})
            if s == 201:
                gids[g] = json.loads(body)["id"]
            return s, secs, 201
        return f

    glat, gerr, gwall = run_parallel(base, token, (gjob(g) for g in range(a.groups)), a.parallel)
    valid = [i for i in ids if i]
    per_group = max(1, len(valid) // max(1, a.groups))

    def mjob(g, chunk):
        def f(c):
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "add", "path": "members", "value": [{"value": v} for v in chunk]}]}
            s, _, secs = c.req("PATCH", f"/Groups/{gids[g]}", body)
            return s, secs, 200
        return f

    jobs = []
    for g in range(a.groups):
        members = valid[g * per_group:(g + 1) * per_group]
        for k in range(0, len(members), 50):
            jobs.append(mjob(g, members[k:k + 50]))
    mlat, merr, mwall = run_parallel(base, token, jobs, a.parallel)
    print(f"SCIM initial sync: {a.groups} groups + {len(jobs)} membership PATCHes (50 members each) in "
          f"{gwall + mwall:.2f}s, PATCH p50 {pct(mlat, .5):.1f} ms, p99 {pct(mlat, .99):.1f} ms, errors {len(gerr) + len(merr)}")

    rnd = random.Random(7)

    def pjob(k):
        def f(c):
            if k % 2 == 0:
                uid = rnd.choice(valid)
                op = rnd.choice([
                    {"op": "replace", "path": "displayName", "value": f"Renamed {k}"},
                    {"op": "replace", "value": {"active": k % 4 == 0}},
                ])
                s, _, secs = c.req("PATCH", f"/Users/{uid}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]})
            else:
                g = rnd.randrange(a.groups)
                uid = rnd.choice(valid)
                op = ({"op": "add", "path": "members", "value": [{"value": uid}]} if k % 4 == 1
                      else {"op": "remove", "path": f'members[value eq "{uid}"]'})
                s, _, secs = c.req("PATCH", f"/Groups/{gids[g]}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [op]})
            return s, secs, 200
        return f

    plat, perr, pwall = run_parallel(base, token, (pjob(k) for k in range(a.patches)), a.parallel)
    print(f"SCIM mixed PATCHes: {a.patches} in {pwall:.2f}s = {a.patches / pwall:.0f}/s, "
          f"p50 {pct(plat, .5):.1f} ms, p99 {pct(plat, .99):.1f} ms, errors {len(perr)}")

    def queries(base, token, n_users, domain):
        c = Conn(base, token)
        fl, ll = [], []
        for q in range(500):
            i = rnd.randrange(n_users)
            f = urllib.parse.quote(f'userName eq "USER{i}@{domain.upper()}"')
            s, body, secs = c.req("GET", f"/Users?filter={f}")
            assert s == 200 and json.loads(body)["totalResults"] == 1, body
            fl.append(secs)
            s, body, secs = c.req("GET", f"/Users?count=100&startIndex={1 + rnd.randrange(max(1, n_users - 100))}")
            assert s == 200, body
            ll.append(secs)
        return fl, ll

    small_base, small_token = directory(a.base, a.key, a.org, "bench small")
    create_users(small_base, small_token, 10, 1, "small.bench")
    fl, ll = queries(small_base, small_token, 10, "small.bench")
    print(f"SCIM queries at 10 users: filter userName eq p50 {pct(fl, .5):.2f} ms, p99 {pct(fl, .99):.2f} ms; "
          f"list count=100 p50 {pct(ll, .5):.2f} ms, p99 {pct(ll, .99):.2f} ms")
    large_base, large_token = directory(a.base, a.key, a.org, "bench large")
    t0 = time.perf_counter()
    _, _, lerr, _ = create_users(large_base, large_token, a.large, a.parallel, "large.bench")
    fill = time.perf_counter() - t0
    fl, ll = queries(large_base, large_token, a.large, "large.bench")
    print(f"SCIM queries at {a.large} users (filled in {fill:.0f}s, errors {len(lerr)}): filter userName eq p50 "
          f"{pct(fl, .5):.2f} ms, p99 {pct(fl, .99):.2f} ms; list count=100 p50 {pct(ll, .5):.2f} ms, p99 {pct(ll, .99):.2f} ms")


if __name__ == "__main__":
    main()
