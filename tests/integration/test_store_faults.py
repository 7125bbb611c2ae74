"""The store's file system full under a running outpost-milter, through a
real Postfix: the counters are soft state, so a domain without a warmup
limit keeps sending, signed, while a warmup-limited one gets 451 4.3.0
COUNTERS_UNAVAILABLE (never sent past a limit it cannot count), each with a
log line; once space is freed both send again, without a restart.

The store lives on a small tmpfs mounted for the test (root only) and
filled with a file until the file system is full.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_store_faults
"""

import errno
import os
import subprocess
import unittest

import lab
import outpostlab
from outpostlab import OutpostCase, message

FREE = "free.outpost-fault.test"     # no warmup limit
WARM = "warm.outpost-fault.test"     # warming up: 50 today


@unittest.skipUnless(os.geteuid() == 0, "mounting a tmpfs needs root")
class DiskFullTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        os.makedirs(op.store_path, exist_ok=True)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m,mode=0755",
                                  "outpost-fault", op.store_path], capture_output=True, text=True)
        if mounted.returncode != 0:
            raise unittest.SkipTest("cannot mount a tmpfs here (%s): the file system cannot be "
                                    "filled safely" % mounted.stderr.strip())
        cls.addClassCleanup(subprocess.run, ["umount", "-l", op.store_path])
        op.add_domain(FREE)
        op.add_domain(WARM)
        op.ctl("domain", "set", WARM, "--warmup-days", "14")
        op.add_key("app", sasl="app")
        cls.filler = os.path.join(op.store_path, "filler")

    def send(self, domain, n):
        token, data = message("app@%s" % domain, body="message %d\n" % n)
        r = self.op.send("bounce@%s" % domain, ["rcpt%d@example.net" % n], data, login="app",
                         addr="192.0.2.100")
        return token, r

    def fill(self):
        """Write the filler until the file system is full."""
        block = b"\0" * 65536
        with open(self.filler, "wb") as f:
            try:
                for _ in range(24 * 16 + 16):       # bounded: more than the tmpfs holds
                    f.write(block)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                self.assertEqual(exc.errno, errno.ENOSPC)
                return
        self.fail("24 MB of filler fitted in a 24 MB tmpfs")

    def test_disk_full_stops_only_warmup_limited_domains_and_recovers(self):
        op = self.op
        for domain in (FREE, WARM):
            token, r = self.send(domain, 0)
            self.assertAccepted(r)
            self.assertSigned(op.wait_delivered(token)[0], domain)
        pid = op.milter.pid

        self.fill()
        try:
            held = []
            for n in range(1, 41):
                # A full disk shows once the counters need a new page:
                # within a few messages to new recipients.
                token, r = self.send(FREE, n)
                self.assertAccepted(r)
                self.assertSigned(op.wait_delivered(token)[0], FREE)
                token, r = self.send(WARM, n)
                if not r.ok:
                    held.append((token, r))
                    break
            full_at = n
            self.assertTrue(held, "40 messages of a warmup-limited domain went out on a full "
                            "disk: their count was kept?\n%s" % op.diagnostics())
            token, r = held[0]
            self.assertReply(r, 451, "4.3.0", "COUNTERS_UNAVAILABLE", stage="data")
            self.assertIn(WARM, r.text)
            self.assertNotDelivered(token, settle=0.5)
            log = op.milter_log_text()
            self.assertIn("counters error=", log)
            self.assertIn("action=tempfail", log)
            # Mail of the domain without a limit still flows.
            token, r = self.send(FREE, 100)
            self.assertAccepted(r)
            self.assertSigned(op.wait_delivered(token)[0], FREE)
        finally:
            os.unlink(self.filler)

        # Space again: the same milter (no restart) sends the held message.
        token, r = held[0][0], None
        for n in range(200, 210):
            t2, r = self.send(WARM, n)
            if r.ok:
                break
        self.assertAccepted(r)
        self.assertSigned(op.wait_delivered(t2)[0], WARM)
        self.assertEqual(op.milter.pid, pid)
        self.assertTrue(op.milter.alive())
        # The failures were counted: outpostctl stats --milter shows them
        # once the milter writes its figures again (every 10 s).
        lab.wait_until(lambda: "counters writes failed" in op.ctl("stats", "--milter").stdout,
                       25, 0.5, "counters_errors in `outpostctl stats --milter`")
        failed = [l for l in op.ctl("stats", "--milter").stdout.splitlines()
                  if "counters writes failed" in l]
        summary = ("store file system full: the warmup-limited domain got %s after %d messages, "
                   "the unlimited one kept sending signed; space freed: both sent again, same "
                   "milter pid; stats --milter: %s" % (held[0][1].reply.split(" ")[0:3], full_at,
                                                      failed[0].strip()))
        outpostlab.record_figure("disk_full", summary)


if __name__ == "__main__":
    unittest.main()
