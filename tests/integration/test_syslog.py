"""outpost's log lines as a Postfix administrator reads them: through syslog.

outpost-milter runs as the unit runs it (no --foreground) in a private mount
namespace whose /dev/log is a datagram socket this test listens on, as
rsyslog or journald would.  The test reads the raw syslog packets and checks
the facility (mail by default, log.facility otherwise), the ident, and that
a message's decision line starts with Postfix's queue id, so it sits beside
Postfix's own lines in /var/log/mail.log.  Also: outpostctl ingest's lines
take the same facility, and under the journal (--foreground with stderr on
$JOURNAL_STREAM) lines carry a "<N>" level prefix and no second time stamp.
"""

import os
import re
import shlex
import signal
import socket
import subprocess
import time
import unittest

import lab
from outpostlab import OutpostCase, message, milter_path, outpostctl_path

DOMAIN = "logs.test"
LOG_MAIL, LOG_LOCAL3 = 2, 19
LOG_INFO, LOG_NOTICE = 6, 5
PACKET = re.compile(rb"^<(\d+)>(\w{3} [ \d]\d \d\d:\d\d:\d\d) ([\w.-]+)\[(\d+)\]: (.*)$", re.S)


def can_unshare():
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True, timeout=10)
    return r.returncode == 0


class SyslogSocket:
    """A /dev/log stand-in: a bound AF_UNIX datagram socket in ``dev_dir``."""

    def __init__(self, dev_dir):
        self.dev_dir = dev_dir
        os.makedirs(dev_dir, exist_ok=True)
        self.path = os.path.join(dev_dir, "log")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o666)
        self.sock.settimeout(0.2)
        self.packets = []  # (facility, severity, ident, pid, text)

    def drain(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return
            m = PACKET.match(data.rstrip(b"\n"))
            if not m:
                raise AssertionError("not a syslog packet: %r" % data[:200])
            pri = int(m.group(1))
            self.packets.append((pri >> 3, pri & 7, m.group(3).decode(), int(m.group(4)),
                                 m.group(5).decode("utf-8", "replace")))

    def wait_for(self, pattern, timeout=15.0):
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while time.monotonic() < deadline:
            self.drain()
            found = [p for p in self.packets if rx.search(p[4])]
            if found:
                return found[0]
        raise AssertionError("no syslog line matching %r in %.0fs; got:\n%s" % (
            pattern, timeout, "\n".join(repr(p) for p in self.packets[-20:])))

    def close(self):
        self.sock.close()


def in_private_dev(dev_dir, argv):
    """argv run in a mount namespace where /dev is ``dev_dir`` (its log
    socket) plus the host's null, zero, random, urandom and full."""
    script = ["set -e"]
    for name in ("null", "zero", "random", "urandom", "full"):
        path = os.path.join(dev_dir, name)
        script.append("touch %s && mount --bind /dev/%s %s" % (shlex.quote(path), name,
                                                              shlex.quote(path)))
    script.append("mount --rbind %s /dev" % shlex.quote(dev_dir))
    script.append("exec " + " ".join(shlex.quote(a) for a in argv))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(script)]


@unittest.skipUnless(os.geteuid() == 0, "needs root for a private mount namespace (CI runs as root)")
class SyslogTest(OutpostCase):
    START_MILTER = False

    @classmethod
    def setUpOutpost(cls, op):
        if not can_unshare():
            raise AssertionError("unshare --mount failed: this test needs mount namespaces")
        op.add_domain(DOMAIN)
        op.add_key("app", sasl="app-login")
        cls.syslog = SyslogSocket(os.path.join(op.dir, "dev"))
        cls.addClassCleanup(cls.syslog.close)
        cls.start_syslog_milter(op)

    @classmethod
    def start_syslog_milter(cls, op):
        argv = in_private_dev(cls.syslog.dev_dir, [milter_path(), "--config", op.config_path])
        op.milter = lab.Process(argv, op.milter_log).start()
        op.milter.wait_ready(lambda: lab.unix_listening(op.sock), 15, "outpost-milter socket")

    def send_signed(self):
        token, data = message("News <news@%s>" % DOMAIN)
        r = self.op.send("news@%s" % DOMAIN, ["rcpt@example.net"], data, login="app-login")
        self.assertAccepted(r)
        self.assertTrue(r.queue_id, r)
        return r.queue_id

    def test_1_decision_line_facility_mail_queue_id_first(self):
        qid = self.send_signed()
        fac, sev, ident, pid, text = self.syslog.wait_for(r"^%s: decision=accept" % qid)
        self.assertEqual(fac, LOG_MAIL, "facility %d, not mail (2): %s" % (fac, text))
        self.assertEqual(sev, LOG_INFO, text)
        self.assertEqual(ident, "outpost-milter")
        self.assertEqual(pid, self.op.milter.pid)
        self.assertRegex(text, r"^%s: decision=accept domain=%s key=app " % (qid, DOMAIN))
        # one line for that message, and no time stamp of our own inside it
        mine = [p for p in self.syslog.packets if p[4].startswith(qid + ":")]
        self.assertEqual(len(mine), 1, mine)
        self.assertNotRegex(text, r"\d{4}-\d\d-\d\dT\d\d:\d\d")
        # stderr stays quiet: everything went to syslog
        self.assertEqual(self.op.milter_log_text().strip(), "")

    def test_2_facility_from_config_on_sighup(self):
        self.op.config_extra["log"] = {"facility": "local3"}
        self.op.write_config()
        os.kill(self.op.milter.pid, signal.SIGHUP)
        self.syslog.wait_for(r"reloaded configuration")
        qid = self.send_signed()
        fac, sev, ident, _, text = self.syslog.wait_for(r"^%s: decision=accept" % qid)
        self.assertEqual(fac, LOG_LOCAL3, "facility %d, not local3 (19): %s" % (fac, text))
        self.op.config_extra.pop("log")
        self.op.write_config()

    def test_3_ingest_logs_with_the_same_facility(self):
        argv = in_private_dev(self.syslog.dev_dir, [outpostctl_path(), "--config",
                                                   self.op.config_path, "ingest", "unsubscribe",
                                                   "--sender", "someone@example.net"])
        r = subprocess.run(argv, input=b"Subject: hello\r\n\r\nnot an unsubscribe\r\n",
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        fac, sev, ident, _, text = self.syslog.wait_for(r"^ingest=unsubscribe result=unused")
        self.assertEqual((fac, sev, ident), (LOG_MAIL, LOG_NOTICE, "outpostctl"), text)

    def test_4_unknown_facility_is_a_config_error(self):
        bad = os.path.join(self.op.dir, "bad.yaml")
        with open(self.op.config_path) as f:
            text = f.read()
        with open(bad, "w") as f:
            f.write(text + "log:\n  facility: mial\n")
        r = subprocess.run([milter_path(), "--config", bad, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("log.facility", r.stderr)
        self.assertIn("mial", r.stderr)
        self.assertIn("local0", r.stderr)  # names what is allowed


class JournalStreamTest(unittest.TestCase):
    """--foreground with stderr on the journal ($JOURNAL_STREAM = its
    device:inode): no time stamp of ours, a "<N>" level prefix journald reads."""

    def run_check(self, env_extra):
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "bad.yaml")
            with open(cfg, "w") as f:
                # a socket it cannot create: it warns, then exits
                f.write("milter:\n  socket_mode: \"0666\"\n  listen: unix:/proc/outpost-none/m.sock\n"
                        "  user: \"\"\nstore:\n  path: %s/none\n" % tmp)
            err = os.path.join(tmp, "stderr")
            with open(err, "wb") as e:
                st = os.fstat(e.fileno())
                env = dict(os.environ)
                env.pop("JOURNAL_STREAM", None)
                if env_extra:
                    env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
                subprocess.run([milter_path(), "--config", cfg, "--foreground"], stdout=e,
                               stderr=e, env=env, timeout=30)
            with open(err) as f:
                return f.read()

    def test_journal_lines_have_level_prefix_and_no_timestamp(self):
        plain = self.run_check(False)
        journal = self.run_check(True)
        # the socket-mode warning is logged before anything can fail
        self.assertRegex(plain, r"(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z outpost-milter: warning: "
                                r"milter.socket_mode 0666")
        self.assertRegex(journal, r"(?m)^<4>warning: milter.socket_mode 0666")
        self.assertNotRegex(journal, r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


if __name__ == "__main__":
    unittest.main()
