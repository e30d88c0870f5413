"""Runs the third-party SCIM conformance suites, unmodified, against a Portico directory.

    python conformance.py scim2-tester   # scim2_tester.check_server: discovery, CRUD, PATCH
    python conformance.py sanity ARGS    # the scim-sanity CLI's probe with ARGS appended

Environment: SCIM_BASE (the directory's scimBaseUrl), SCIM_TOKEN (its bearer token).
scim2-tester results are printed one per line as `STATUS<TAB>TITLE<TAB>REASON`; the Rust test
decides which statuses fail (ERROR and CRITICAL, unless listed there as deliberate deviations).
"""
import os
import subprocess
import sys


def scim2_tester():
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import check_server

    http = Client(
        base_url=os.environ["SCIM_BASE"],
        headers={"Authorization": "Bearer " + os.environ["SCIM_TOKEN"]},
        timeout=30,
    )
    client = SyncSCIMClient(http)
    results = check_server(client, raise_exceptions=False)
    for r in results:
        reason = r.reason or ""
        if r.status.name in ("ERROR", "CRITICAL") and r.data is not None:
            cause = getattr(r.data, "__cause__", None) or getattr(r.data, "__context__", None)
            reason += f" | data: {r.data!r}"[:800] + (f" | cause: {cause!r}"[:1500] if cause else "")
        reason = reason.replace("\n", " ").replace("\t", " ")
        print(f"{r.status.name}\t{r.title}\t{reason}")
    print(f"TOTAL\t{len(results)}")


def sanity(args):
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "scim-sanity"),
        "probe",
        os.environ["SCIM_BASE"],
        "--token",
        os.environ["SCIM_TOKEN"],
        "--i-accept-side-effects",
        "--json-output",
        *args,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    sys.exit(p.returncode)


if __name__ == "__main__":
    if sys.argv[1] == "scim2-tester":
        scim2_tester()
    else:
        sanity(sys.argv[2:])
