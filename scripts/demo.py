#!/usr/bin/python3
"""The main job, end to end, on an embedded default configuration.

Everything runs on 127.0.0.1 under ./var/demo, with real components:

1. a loopback DNS server (unbound) for the demo zones;
2. `outpostctl domain add demo.example`, its records published in that DNS,
   and `outpostctl domain verify demo.example` asking it for real;
3. `outpost-milter` inline in a private Postfix that relays to a capture sink;
4. one message sent through Postfix, shown as delivered, its DKIM signature
   checked by an independent verifier (dkimpy).

Run by `./dev demo`; OUTPOST_BUILD_DIR names the build tree.
"""
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("OUTPOST_BUILD_DIR", os.path.join(TOP, "build"))

import lab  # noqa: E402
import outpostlab  # noqa: E402

DOMAIN = "demo.example"


def step(text):
    print("\n== " + text, flush=True)


def reachable_by_other_users(path):
    """Postfix's daemons run as `postfix`: every directory above its queue
    and data directories must be searchable by other users."""
    path = os.path.abspath(path)
    while True:
        if os.path.isdir(path) and not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def main():
    var = os.path.join(TOP, "var", "demo")
    if not reachable_by_other_users(os.path.join(TOP, "var")):
        # e.g. a checkout under /root (mode 0700): Postfix could not reach it.
        var = "/tmp/outpost-demo-%d" % os.getuid()
        print("demo: %s is not searchable by the postfix user; running under %s instead"
              % (TOP, var))
    shutil.rmtree(var, ignore_errors=True)
    os.makedirs(var)
    os.chmod(var, 0o755)
    op = outpostlab.Outpost(var)
    try:
        step("starting unbound, a capture sink, Postfix and outpost-milter on 127.0.0.1")
        op.start(milter=False)
        print("config: %s\nstore:  %s" % (op.config_path, op.store_path))

        step("outpostctl domain add %s" % DOMAIN)
        print(op.ctl("domain", "add", DOMAIN).stdout)
        op.publish(DOMAIN)

        step("outpostctl domain verify %s  (against the loopback DNS)" % DOMAIN)
        r = op.ctl("domain", "verify", DOMAIN, check=False)
        print(r.stdout + r.stderr)
        if r.returncode != 0:
            print("demo: verification failed", file=sys.stderr)
            return 1

        op.add_key("demo-app", allow=[DOMAIN], cidrs=["127.0.0.1/32"])
        op.start_milter()
        token, msg = outpostlab.message("Demo Sender <hello@%s>" % DOMAIN, to="reader@example.net",
                                        subject="outpost demo", token=outpostlab.new_token("demo"))
        step("sending a message from hello@%s through Postfix" % DOMAIN)
        res = op.send("hello@%s" % DOMAIN, ["reader@example.net"], msg)
        print("SMTP: %s %s" % (res.code, res.text))
        if res.code != 250:
            print(op.diagnostics(), file=sys.stderr)
            return 1
        delivered = op.wait_delivered(token)[0]

        step("delivered to the sink; its headers")
        head = delivered.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        print(head)

        step("independent DKIM verification (dkimpy, keys from the loopback DNS)")
        results = lab.verify_dkim(delivered.data, op.dns.port)
        ok = bool(results) and all(x.ok for x in results)
        for x in results:
            print("dkim=%s d=%s s=%s a=%s %s" % ("pass" if x.ok else "fail", x.domain, x.selector,
                                                x.algorithm, x.error or ""))
        step("milter log")
        print(op.milter_log_text().strip()[-1500:])
        print("\ndemo: %s" % ("message delivered with dkim=pass" if ok else "DKIM FAILED"))
        return 0 if ok else 1
    finally:
        op.stop()


if __name__ == "__main__":
    sys.exit(main())
