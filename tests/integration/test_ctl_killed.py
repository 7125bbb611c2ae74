"""outpostctl killed with SIGKILL in the middle of its writes (domain add,
DKIM rotation), at times spread over the whole command: afterwards the store
opens, `config check` reads every key of every domain, and the running
milter never sees half a domain — mail from each domain is either signed or
refused as unknown, never 451 DKIM_KEY_UNAVAILABLE.

Why it holds: a command writes its key files first (temporary file, fsync,
rename) and then commits the store in one LMDB transaction; a kill leaves
at most a key file no domain names.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_ctl_killed
"""

import os
import random
import signal
import subprocess
import time
import unittest

import outpostlab
from outpostlab import OutpostCase, message, outpostctl_path

ROUNDS = 24
ROTATED = "rotated.outpost-killed.test"


class CtlKilledTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        # A sandbox key signs with pending selectors: the domains added
        # below need no DNS to be signed.
        op.add_domain(ROTATED)
        op.add_key("sandbox", sasl="sandbox", sandbox=True)

    def ctl_killed(self, args, after):
        argv = [outpostctl_path(), "--config", self.op.config_path] + args
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(after)
        try:
            os.kill(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return p.wait(10)

    def timed(self, args):
        t0 = time.monotonic()
        self.op.ctl(*args)
        return time.monotonic() - t0

    def send(self, domain):
        token, data = message("app@%s" % domain)
        return token, self.op.send("bounce@%s" % domain, ["rcpt@example.net"], data,
                                   login="sandbox", addr="192.0.2.100")

    def test_kills_leave_whole_domains_or_none(self):
        op = self.op
        rng = random.Random(11)
        add_time = self.timed(["domain", "add", "timing.outpost-killed.test"])
        killed = finished = 0
        names = []
        for i in range(ROUNDS):
            name = "k%02d.outpost-killed.test" % i
            names.append(name)
            rc = self.ctl_killed(["domain", "add", name], rng.uniform(0, add_time * 1.2))
            if rc == -signal.SIGKILL:
                killed += 1
            else:
                finished += 1
        rotate_time = self.timed(["domain", "dkim", "rotate", ROTATED])
        for i in range(ROUNDS // 2):
            self.ctl_killed(["domain", "dkim", "rotate", ROTATED], rng.uniform(0, rotate_time * 1.2))
        self.assertGreater(killed, ROUNDS // 4, "too few commands were killed to mean anything")

        # The store opens and every key of every domain reads.
        check = op.ctl("config", "check", check=False)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        listed = {d["name"] for d in op.ctl_json("domain", "list", "--json")}

        # The records of what is there, for the receiver's verifier.
        for name in sorted(listed & set(names)):
            op.publish(name, apply=False)
        op.dns.apply()
        outcomes = {"signed": 0, "unknown": 0}
        for name in names + [ROTATED]:
            token, r = self.send(name)
            if name in listed:
                self.assertAccepted(r)
                self.assertSigned(op.wait_delivered(token)[0], name)
                outcomes["signed"] += 1
            else:
                self.assertReply(r, 550, "5.7.1", "DOMAIN_NOT_FOUND")
                outcomes["unknown"] += 1
        self.assertNotIn("DKIM_KEY_UNAVAILABLE", op.milter_log_text())
        summary = ("%d domain adds and %d rotations, %d adds killed mid-command; after: "
                   "config check ok, %d domains whole and signing, %d absent, 0 half"
                   % (ROUNDS, ROUNDS // 2, killed, outcomes["signed"], outcomes["unknown"]))
        outpostlab.record_figure("ctl_killed", summary)


if __name__ == "__main__":
    unittest.main()
