#!/usr/bin/env python3
"""A steady load of GET requests for the deploy tests, with honest counts.

    load.py URL STOP_FILE OUT_JSON [--threads N] [--max-seconds S] [--keepalive]

THREADS clients each send GET URL back to back until STOP_FILE exists (or
MAX_SECONDS pass, a bound so that a test that dies cannot leave it running).
By default every request has a connection of its own and says
`Connection: close`, so each one goes through accept() of whichever accountd
process the kernel picks: that is what a restart can break. With
--keepalive the clients keep their connection open, as nginx's upstream
keepalive would, and count a request lost on a connection the server had
just closed as a failure too (a real client retries such an idempotent
request; this one does not, so the count shows the race).

Every answer that is not 2xx, every connection error and every timeout is a
failure. OUT_JSON gets the totals, the count per X-Accountd-Version, and the
longest gap between two successful answers (to show the load really ran the
whole time).
"""

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("stop_file")
    parser.add_argument("out_json")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--keepalive", action="store_true")
    args = parser.parse_args()

    url = urllib.parse.urlsplit(args.url)
    path = url.path or "/"
    lock = threading.Lock()
    totals = {"requests": 0, "ok": 0, "failed": 0}
    failures = {}
    versions = {}
    last_ok = [None]
    max_gap = [0.0]
    start = time.monotonic()
    deadline = start + args.max_seconds

    def record(ok, what, version=None):
        now = time.monotonic()
        with lock:
            totals["requests"] += 1
            if ok:
                totals["ok"] += 1
                versions[version] = versions.get(version, 0) + 1
                if last_ok[0] is not None:
                    max_gap[0] = max(max_gap[0], now - last_ok[0])
                last_ok[0] = now
            else:
                totals["failed"] += 1
                failures[what] = failures.get(what, 0) + 1

    def client():
        conn = None
        while not os.path.exists(args.stop_file) and time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
                headers = {} if args.keepalive else {"Connection": "close"}
                conn.request("GET", path, headers=headers)
                resp = conn.getresponse()
                resp.read()
                version = resp.getheader("X-Accountd-Version", "-")
                if 200 <= resp.status < 300:
                    record(True, None, version)
                else:
                    record(False, "status %d" % resp.status)
                if not args.keepalive or resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                record(False, type(e).__name__)
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    with open(args.out_json + ".started", "w") as f:
        f.write("started\n")
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    result = dict(totals)
    result.update(
        failures=failures,
        versions=versions,
        seconds=round(elapsed, 2),
        per_second=round(totals["requests"] / elapsed, 1) if elapsed > 0 else 0,
        max_gap_seconds=round(max_gap[0], 3),
        keepalive=args.keepalive,
        stopped_by_file=os.path.exists(args.stop_file),
    )
    tmp = args.out_json + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, sort_keys=True)
        f.write("\n")
    os.replace(tmp, args.out_json)


if __name__ == "__main__":
    main()
