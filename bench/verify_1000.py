#!/usr/bin/python3
"""Benchmark: `outpostctl domain verify --all` over 1,000 domains.

Starts unbound on 127.0.0.1 (tests/integration/lab.py), adds N domains to a
fresh store, publishes every record they need (DKIM, SPF, DMARC, MAIL FROM,
tracking), then times `outpostctl domain verify --all` several times.
Every run must find every domain verified, or the benchmark fails.

    /usr/bin/python3 bench/verify_1000.py [--domains N] [--runs R] [--build DIR]

Run with Debian's /usr/bin/python3 (it has python3-dnspython). Everything
listens on and talks to 127.0.0.1 only.
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import lab  # noqa: E402

INCLUDE = "_spf.relay.test"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--domains", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build", default=os.environ.get("OUTPOST_BUILD_DIR") or lab.build_dir())
    args = ap.parse_args()
    ctl = os.path.join(args.build, "outpostctl")
    if not os.access(ctl, os.X_OK):
        sys.exit("verify_1000: %s not found; build first (cmake --build %s)" % (ctl, args.build))

    tmp = lab.tmpdir(None, "outpost-bench-verify-")
    dns = lab.DnsServer(tmp)
    try:
        dns.add_zone("test")
        dns.add(INCLUDE, "TXT", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all")
        dns.start()
        config = os.path.join(tmp, "outpost.yaml")
        with open(config, "w") as f:
            f.write("""\
store: {{ path: {tmp}/store, keys: {tmp}/keys }}
relay: {{ hostname: relay.test, ips: [192.0.2.10, 2001:db8::10], spf_include: {inc},
         bounce_host: bounces.relay.test }}
tracking: {{ host: t.relay.test }}
dns: {{ upstream: "{up}", timeout: 5s, deadline: 120s }}
dkim: {{ algorithm: ed25519 }}
""".format(tmp=tmp, inc=INCLUDE, up=dns.upstream))

        def add(i):
            name = "d%04d.bench.test" % i
            r = subprocess.run([ctl, "--config", config, "domain", "add", name, "--json"],
                               capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise RuntimeError("domain add %s: %s" % (name, r.stderr))
            return json.loads(r.stdout)["records"]

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            all_records = list(pool.map(add, range(args.domains)))
        print("added %d domains in %.1f s" % (args.domains, time.monotonic() - t0))
        for recs in all_records:
            for rec in recs:
                dns.add(rec["host"], rec["type"], rec["strings"] if rec["type"] == "TXT" else rec["value"])
        dns.apply(timeout=60)
        print("published %d records in unbound on %s" % (len(dns.records), dns.upstream))

        times = []
        for run in range(args.runs):
            t0 = time.monotonic()
            r = subprocess.run([ctl, "--config", config, "domain", "verify", "--all", "--json"],
                               capture_output=True, text=True, timeout=600)
            wall = time.monotonic() - t0
            out = json.loads(r.stdout)
            if r.returncode != 0 or out["verified"] != args.domains:
                sys.exit("run %d: exit %d, %d of %d verified\n%s" % (
                    run + 1, r.returncode, out["verified"], args.domains, r.stderr[-2000:]))
            times.append(wall)
            print("run %d: %d domains verified in %.2f s wall (%.2f s checking and saving)"
                  % (run + 1, out["checked"], wall, out["seconds"]))
        print("median %.2f s for %d domains (%d CPUs: %s)" % (
            statistics.median(times), args.domains, os.cpu_count(),
            open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].split(":", 1)[1].strip()
            if os.path.exists("/proc/cpuinfo") else "?"))
    finally:
        dns.stop()
        subprocess.run(["rm", "-rf", tmp], check=False)


if __name__ == "__main__":
    main()
