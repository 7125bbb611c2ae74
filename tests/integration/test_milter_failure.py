"""outpost-milter failures through a real Postfix: a milter killed while
Postfix is sending, and DKIM keys that are missing or unusable.  Mail is
tempfailed or stays queued: never delivered unsigned, never lost.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build-itest /usr/bin/python3 -m unittest -v test_milter_failure
"""

import collections
import os
import shutil
import threading
import time
import unittest

import lab
import outpostlab
from outpostlab import POSTFIX_TEMPFAIL, OutpostCase, message

DOMAIN = "crash.outpost-fail.test"
GOOD = "good.outpost-fail.test"
MISSING = "missing.outpost-fail.test"
BADMODE = "badmode.outpost-fail.test"
GARBAGE = "garbage.outpost-fail.test"


class MilterKilledTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(DOMAIN, tenant="acme")
        cls.secret = op.add_key("app", tenant="acme", sasl="app")

    def test_sigkill_while_sending(self):
        op = self.op
        n_smtp, sessions, n_local = 48, 6, 24
        outcomes = {}            # token -> SmtpResult of the first attempt
        lock = threading.Lock()
        deadline = time.monotonic() + 120

        def smtp_worker(w):
            for i in range(w, n_smtp, sessions):
                if time.monotonic() > deadline:
                    return
                token, data = message("app@%s" % DOMAIN, body="smtp message %d\n" % i,
                                      token="crash-smtp-%d-%03d" % (os.getpid(), i))
                r = op.send("bounce@%s" % DOMAIN, ["s%d@example.net" % i], data, login="app",
                            addr="192.0.2.100")
                with lock:
                    outcomes[token] = (r, data)

        local = {}               # token -> sendmail exit status

        def local_worker():
            for i in range(n_local):
                if time.monotonic() > deadline:
                    return
                token, data = message("app@%s" % DOMAIN, key=self.secret,
                                      body="local message %d\n" % i,
                                      token="crash-local-%d-%03d" % (os.getpid(), i))
                cp = op.postfix.sendmail("bounce@%s" % DOMAIN, ["l%d@example.net" % i],
                                         data.replace(b"\r\n", b"\n"))
                with lock:
                    local[token] = (cp.returncode, data)

        threads = [threading.Thread(target=smtp_worker, args=(w,)) for w in range(sessions)]
        threads.append(threading.Thread(target=local_worker))
        for t in threads:
            t.start()
        # Kill the milter once mail is flowing: after the 6th delivery.
        try:
            lab.wait_until(lambda: len(op.sink.messages()) >= 6, 60, 0.005, "6 deliveries")
        finally:
            killed_pid = op.kill_milter()
        delivered_at_kill = len(op.sink.messages())
        for t in threads:
            t.join(150)
            self.assertFalse(t.is_alive(), "a sender thread hung")
        self.assertFalse(lab.pid_alive(killed_pid))

        # While the milter is down, Postfix tempfails new SMTP mail.
        token, data = message("app@%s" % DOMAIN)
        r = op.send("bounce@%s" % DOMAIN, ["down@example.net"], data, login="app",
                    addr="192.0.2.100")
        self.assertEqual((r.ok, r.code, r.text), (False, 451, POSTFIX_TEMPFAIL), str(r))
        outcomes[token] = (r, data)

        kinds, replies = collections.Counter(), collections.Counter()
        for tok, (r, _) in outcomes.items():
            if r.ok:
                kinds["smtp accepted"] += 1
            else:
                # Refused mail stays with the client: only temporary refusals.
                self.assertEqual(r.code // 100, 4, "%s: %s" % (tok, r))
                kinds["smtp tempfailed"] += 1
                replies["%s at %s" % (r.reply, r.stage)] += 1
        for tok, (rc, _) in local.items():
            self.assertEqual(rc, 0, tok)   # postdrop took it: Postfix owns it now
        self.assertEqual(len(local), n_local)
        self.assertEqual(len(outcomes), n_smtp + 1)

        # Nothing delivered is unsigned; what the sink has so far verifies.
        time.sleep(1.0)
        for m in op.sink.messages():
            self.assertSigned(m, DOMAIN)
        queued = op.postfix.queue()
        held = {q["queue_name"] for q in queued}
        local_waiting = [t for t in local if not op.delivered(t)]
        kinds["local waiting in Postfix"] = len(local_waiting)
        summary = ("delivered before kill %d; %s; tempfail replies %s; queue names %s"
                   % (delivered_at_kill, dict(kinds), dict(replies), sorted(held)))
        self.assertGreater(kinds["smtp tempfailed"] + len(local_waiting), 1,
                           "the kill hit no mail in flight: " + summary)
        # Every local message not delivered yet is in Postfix's queue.
        self.assertGreaterEqual(len(queued), len(local_waiting), summary)
        self.assertTrue(held <= {"maildrop", "incoming", "active", "deferred"}, summary)
        if local_waiting:
            # pickup could not hand them to cleanup: they wait in maildrop.
            self.assertIn("maildrop", held, summary)

        # Restart, let Postfix retry, and resubmit what SMTP clients were told
        # to retry: everything arrives, exactly once, signed.
        op.start_milter()
        op.kick_pickup()
        op.postfix.flush()
        for tok, (r, data) in list(outcomes.items()):
            if not r.ok:
                r2 = op.send("bounce@%s" % DOMAIN, ["retry@example.net"], data, login="app",
                             addr="192.0.2.100")
                self.assertAccepted(r2)
        for tok in list(outcomes) + list(local):
            ms = op.wait_delivered(tok, timeout=90)
            self.assertEqual(len(ms), 1, "%s delivered %d times; first attempt: %s; %s" % (
                tok, len(ms), outcomes.get(tok, (local.get(tok, ("?",))[0],))[0],
                [(m.rcpts, m.data[:300]) for m in ms]))
            self.assertSigned(ms[0], DOMAIN)
        op.postfix.wait_queue_empty(60)
        for tok in list(outcomes) + list(local):
            self.assertEqual(len(op.delivered(tok)), 1, tok)
        outpostlab.record_figure("kill_batch", summary)


class KeyFaultTest(OutpostCase):
    """A missing, badly protected or corrupt DKIM private key: 451 4.3.0,
    and the mail is not delivered unsigned; other domains keep signing.
    The keys are broken before the milter starts, so it cannot have them
    cached."""

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        cls.selectors = {}
        for d in (GOOD, MISSING, BADMODE, GARBAGE):
            info = op.add_domain(d, tenant="acme")
            cls.selectors[d] = [s["name"] for s in info["selectors"]]
        op.add_key("app", tenant="acme", sasl="app")
        [sel] = cls.selectors[MISSING]
        os.rename(op.key_file(MISSING, sel), op.key_file(MISSING, sel) + ".away")
        [sel] = cls.selectors[BADMODE]
        os.chmod(op.key_file(BADMODE, sel), 0o644)
        [sel] = cls.selectors[GARBAGE]
        with open(op.key_file(GARBAGE, sel), "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")

    def send(self, domain):
        token, data = message("app@%s" % domain)
        r = self.op.send("bounce@%s" % domain, ["rcpt@example.net"], data, login="app",
                         addr="192.0.2.100")
        return token, r

    def check_451(self, domain):
        token, r = self.send(domain)
        self.assertFalse(r.ok, "%s accepted with a broken key: %s" % (domain, r))
        self.assertEqual(r.code, 451, "%s\n%s" % (r, self.op.diagnostics()))
        self.assertTrue(r.text.startswith("4.3.0 "), str(r))
        self.op.postfix.wait_queue_empty(20)
        self.assertNotDelivered(token)

    def test_missing_key_file(self):
        self.check_451(MISSING)

    def test_group_readable_key_file(self):
        self.check_451(BADMODE)

    def test_corrupt_key_file(self):
        self.check_451(GARBAGE)

    def test_good_domain_still_signs(self):
        for d in (MISSING, GOOD):
            token, r = self.send(d)
        self.assertAccepted(r)
        self.assertSigned(self.op.wait_delivered(token)[0], GOOD)
        self.assertTrue(self.op.milter.alive(), "the milter died:\n" + self.op.milter_log_text())

    def test_key_removed_while_running(self):
        # A domain added while the milter runs, its key file gone before its
        # first message: the milter cannot have cached it.
        d = "late.outpost-fail.test"
        info = self.op.add_domain(d, tenant="acme")
        paths = [self.op.key_file(d, s["name"]) for s in info["selectors"]]
        for path in paths:
            shutil.move(path, path + ".away")
        self.check_451(d)
        self.assertIn("DKIM_KEY_UNAVAILABLE", self.op.milter_log_text())
        # The key back: the same milter signs again, no restart, no reload.
        pid = self.op.milter.pid
        for path in paths:
            shutil.move(path + ".away", path)
        token, r = self.send(d)
        self.assertAccepted(r)
        self.assertSigned(self.op.wait_delivered(token)[0], d)
        self.assertEqual(self.op.milter.pid, pid)


if __name__ == "__main__":
    unittest.main()
