#!/usr/bin/python3
"""The main job, end to end, on an embedded default configuration.

Everything runs on 127.0.0.1 under ./var/demo, with real components:

1. a loopback DNS server (unbound) for the demo zones;
2. `outpostctl domain add demo.example`, its records published in that DNS,
   and `outpostctl domain verify demo.example` asking it for real;
3. `outpost-milter` inline in a private Postfix that relays to a capture sink,
   and `outpost-trackd` behind the tracking links;
4. one HTML message sent through Postfix, shown as delivered: its links and
   open pixel rewritten, List-Unsubscribe added, its DKIM signature checked
   by an independent verifier (dkimpy);
5. its click link and pixel followed through outpost-trackd, the RFC 8058
   one-click unsubscribe POSTed, `outpostctl stats`, and the next message to
   the same recipient refused.

Run by `./dev demo`; OUTPOST_BUILD_DIR names the build tree.
"""
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("OUTPOST_BUILD_DIR", os.path.join(TOP, "build"))

import lab  # noqa: E402
import outpostlab  # noqa: E402

DOMAIN = "demo.example"
RCPT = "reader@example.net"
LINK = "https://www.example.com/spring?utm_source=demo&utm_medium=email"


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

        op.ctl("domain", "set", DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("demo-app", allow=[DOMAIN], cidrs=["127.0.0.1/32"])
        op.start_milter()
        op.start_trackd()
        token = outpostlab.new_token("demo")
        msg = outpostlab.html_message("Demo Sender <hello@%s>" % DOMAIN, RCPT, token, LINK)
        step("sending an HTML message from hello@%s to %s through Postfix" % (DOMAIN, RCPT))
        res = op.send("hello@%s" % DOMAIN, [RCPT], msg)
        print("SMTP: %s %s" % (res.code, res.text))
        if res.code != 250:
            print(op.diagnostics(), file=sys.stderr)
            return 1
        delivered = op.wait_delivered(token)[0]

        step("delivered to the sink; its envelope sender (VERP on the verified MAIL FROM) and headers")
        print("MAIL FROM:<%s>\n" % delivered.mail_from)
        head = delivered.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
        print(head)
        html = outpostlab.text_part(delivered.email(), "html").get_content()
        hrefs = re.findall(r"""(?:href|src)=["']([^"']+)["']""", html)
        clicks = [h for h in hrefs if "/c/" in h]
        pixels = [h for h in hrefs if "/o/" in h]
        print("\nlinks in the HTML part as delivered:")
        for h in hrefs:
            print("  " + h)

        step("independent DKIM verification (dkimpy, keys from the loopback DNS)")
        results = lab.verify_dkim(delivered.data, op.dns.port)
        ok = bool(results) and all(x.ok for x in results)
        for x in results:
            print("dkim=%s d=%s s=%s a=%s %s" % ("pass" if x.ok else "fail", x.domain, x.selector,
                                                x.algorithm, x.error or ""))

        step("following the message's links through outpost-trackd (127.0.0.1:%d)" % op.trackd_port)
        browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"}
        r, _ = op.http(clicks[0], headers=browser)
        target = r.getheader("Location")
        print("GET /c/...  -> %d, Location: %s" % (r.status, target))
        ok = ok and r.status == 302 and target == LINK
        r, gif = op.http(pixels[0], headers=browser)
        print("GET /o/...  -> %d, %s, %d bytes" % (r.status, r.getheader("Content-Type"), len(gif)))
        ok = ok and r.status == 200 and len(gif) == 43
        lu = delivered.headers("List-Unsubscribe")[0]
        one_click = re.search(r"<(https://[^>]+)>", lu).group(1)
        r, text = op.http(one_click, "POST", b"List-Unsubscribe=One-Click",
                          {"Content-Type": "application/x-www-form-urlencoded"})
        print("POST /u/... List-Unsubscribe=One-Click -> %d %s" % (r.status, text.decode().strip()))
        ok = ok and r.status == 200
        print("suppression list of %s:" % DOMAIN)
        print(op.ctl("suppression", "list", DOMAIN).stdout.rstrip())

        step("the next message to %s from %s" % (RCPT, DOMAIN))
        token2 = outpostlab.new_token("demo")
        res = op.send("hello@%s" % DOMAIN, [RCPT],
                      outpostlab.html_message("Demo Sender <hello@%s>" % DOMAIN, RCPT, token2, LINK))
        print("SMTP: %s %s" % (res.code, res.text))
        ok = ok and res.code == 550 and "ALL_RECIPIENTS_SUPPRESSED" in res.text

        step("outpostctl stats %s" % DOMAIN)
        print(op.ctl("stats", DOMAIN).stdout.rstrip())
        step("milter log")
        print(op.milter_log_text().strip()[-1500:])
        step("outpost-trackd log")
        print(op.trackd_log_text().strip()[-800:])
        print("\ndemo: %s" % ("message delivered with dkim=pass, tracked, unsubscribed with one click"
                              if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        op.stop()


if __name__ == "__main__":
    sys.exit(main())
