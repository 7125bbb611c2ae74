"""outpost-milter killed with SIGKILL twice under load through a real
Postfix, and restarted: every message Postfix accepted is delivered exactly
once and signed; every other one got a 4xx and, sent again as a client
would after a pause, is delivered exactly once too; nothing is delivered
unsigned or untracked.

The load: OUTPOST_LOAD_MESSAGES messages (default 2000), half plain text,
half HTML newsletters with click and open tracking, from 8 SMTP clients at
once (Python's smtplib: smtp-source exits at the first 4xx, and a kill makes
4xx replies).  Bounded: 8 clients, a deadline per phase, loopback only.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build OUTPOST_LOAD_MESSAGES=5000 \\
     /usr/bin/python3 -m unittest -v test_load_faults
"""

import collections
import os
import re
import threading
import time
import unittest

import lab
import outpostlab
from outpostlab import OutpostCase, message

DOMAIN = "load.outpost-fail.test"
SHOP = "https://shop.example.com/item?id=42"
N = int(os.environ.get("OUTPOST_LOAD_MESSAGES", "2000"))
CLIENTS = 8
TOKEN_RE = re.compile(rb"load-\d+-\d{5}")


class LoadKillTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.ctl("domain", "set", DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("app", sasl="app")

    def build(self, i):
        token = "load-%d-%05d" % (os.getpid(), i)
        rcpt = "r%05d@example.net" % i
        if i % 2:
            return token, rcpt, outpostlab.html_message("News <news@%s>" % DOMAIN, rcpt, token,
                                                        SHOP)
        return (token, rcpt,
                message("app@%s" % DOMAIN, to=rcpt, token=token, body="plain message %d\n" % i)[1])

    def send(self, i):
        token, rcpt, data = self.build(i)
        r = self.op.send("bounce@%s" % DOMAIN, [rcpt], data, login="app", addr="192.0.2.100")
        return token, r

    def test_sigkill_twice_under_load(self):
        op = self.op
        first = {}                 # token -> SmtpResult of the first attempt
        lock = threading.Lock()
        deadline = time.monotonic() + 600
        t0 = time.monotonic()

        def client(w):
            # A client that gets a 4xx backs off and sends the message again,
            # as an application's mail library would (bounded: 60 tries).
            for i in range(w, N, CLIENTS):
                for attempt in range(60):
                    if time.monotonic() > deadline:
                        return
                    token, r = self.send(i)
                    with lock:
                        first.setdefault(token, r)
                        if r.ok:
                            final[token] = (attempt, r)
                    if r.ok:
                        break
                    with lock:
                        refused.append((token, r))
                    time.sleep(0.2)

        final = {}                 # token -> (retries, SmtpResult accepted)
        refused = []               # (token, SmtpResult) of every refusal
        threads = [threading.Thread(target=client, args=(w,)) for w in range(CLIENTS)]
        for t in threads:
            t.start()
        kills = []
        try:
            for share in (4, 2):   # once a quarter and half of the load was submitted
                lab.wait_until(lambda: len(first) >= N // share, 300, 0.005,
                               "%d submissions" % (N // share))
                kills.append((op.kill_milter(), len(first)))
                time.sleep(0.5)    # Postfix tempfails while the milter is gone
                op.start_milter()
        finally:
            for t in threads:
                t.join(max(1, deadline - time.monotonic()))
        for t in threads:
            self.assertFalse(t.is_alive(), "a client hung")
        load_seconds = time.monotonic() - t0
        self.assertEqual(len(first), N)
        self.assertEqual(len(final), N, "not accepted after 60 tries: %s" % sorted(
            set(first) - set(final))[:10])

        replies = collections.Counter()
        for token, r in refused:
            # Refused mail stays with the client: only temporary refusals.
            self.assertTrue(r.code == -1 or r.code // 100 == 4, "%s: %s" % (token, r))
            replies["%s at %s" % (r.reply, r.stage)] += 1
        retried = sum(1 for a, _ in final.values() if a > 0)
        accepted = N - retried
        self.assertGreater(len(refused), 0, "the kills hit no message in flight")
        by_token = {self.build(i)[0]: i for i in range(N)}

        # Everything arrives exactly once.
        lab.wait_until(lambda: len(op.sink.messages()) >= N, 300, 0.1, "%d deliveries" % N)
        op.postfix.wait_queue_empty(120)
        time.sleep(1.0)
        seen, delivered = outpostlab.deliveries_by_token(self, op.sink.messages(), TOKEN_RE)
        twice = [t for t, c in seen.items() if c > 1]
        missing = [t for t in by_token if t not in seen]
        self.assertEqual(twice, [], "delivered more than once")
        self.assertEqual(missing, [], "never delivered (lost)")

        # Signed, and the HTML half tracked.
        for tok, m in delivered.items():
            self.assertSigned(m, DOMAIN)
            if by_token[tok] % 2:
                self.assertIn(b"/c/", m.data.replace(b"=\r\n", b""), tok)
        summary = ("%d messages (%d HTML tracked) from %d clients in %.1f s; milter killed "
                   "(SIGKILL) after %s submissions and restarted; accepted at the first try %d, "
                   "after 4xx and a retry %d (%d 4xx replies: %s); delivered exactly once %d, "
                   "lost 0, duplicated 0, unsigned 0"
                   % (N, N // 2, CLIENTS, load_seconds, [k[1] for k in kills], accepted,
                      retried, len(refused), dict(replies), len(seen)))
        outpostlab.record_figure("load_kill", summary)


if __name__ == "__main__":
    unittest.main()
