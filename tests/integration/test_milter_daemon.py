"""outpost-milter as a daemon, through a real Postfix (issue 4, point 1):
``--check-config``, SIGHUP reload (atomic; a bad file keeps the old config),
SIGTERM drain, privilege drop to milter.user, an inet: milter socket, and
the sandbox quarantine mode (Postfix's hold queue).

Every delivered message's signature is checked with dkimpy against the
loopback DNS server.  Signals go to the milter this file started, by PID.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build-daemon /usr/bin/python3 -m unittest -v test_milter_daemon
"""

import os
import re
import signal
import smtplib
import subprocess
import unittest

import lab
import outpostlab
from outpostlab import POSTFIX_TEMPFAIL, OutpostCase, milter_path, message

EXIT_CONFIG = 5       # outpost-milter: configuration error
EXIT_ENVIRONMENT = 6  # store, keys, secrets, socket, user


def proc_status(pid):
    """/proc/<pid>/status as {field: value}."""
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class SmtpSession:
    """One SMTP session to the lab Postfix, driven step by step (smtplib),
    for tests that need a transaction left open or several in a row."""

    def __init__(self, op, login=None, addr="192.0.2.100"):
        self.s = smtplib.SMTP(lab.LOOPBACK, op.postfix.smtp_port, timeout=30)
        code, msg = self.s.ehlo("client.outpost.test")
        assert code == 250, (code, msg)
        xclient = ["ADDR=%s" % addr] + (["LOGIN=%s" % login] if login else [])
        code, msg = self.s.docmd("XCLIENT", " ".join(xclient))
        assert code == 220, (code, msg)
        code, msg = self.s.ehlo("client.outpost.test")
        assert code == 250, (code, msg)

    def begin(self, mail_from, rcpt):
        """MAIL, RCPT, DATA; returns the DATA reply code."""
        code, msg = self.s.mail(mail_from)
        assert code == 250, (code, msg)
        code, msg = self.s.rcpt(rcpt)
        assert code == 250, (code, msg)
        self.s.putcmd("DATA")
        code, _ = self.s.getreply()
        return code

    def send_raw(self, data):
        self.s.send(data)

    def end(self):
        """Send the final dot; returns (code, text)."""
        self.s.send(b".\r\n")
        code, msg = self.s.getreply()
        return code, msg.decode("utf-8", "replace")

    def message(self, mail_from, rcpt, data):
        """A whole transaction; returns (code, text) of the end of data."""
        code = self.begin(mail_from, rcpt)
        if code != 354:
            return code, "DATA refused"
        self.send_raw(data if data.endswith(b"\r\n") else data + b"\r\n")
        return self.end()

    def close(self):
        try:
            self.s.quit()
        except Exception:  # noqa: BLE001 - the server may already be gone
            pass
        try:
            self.s.close()
        except Exception:  # noqa: BLE001
            pass


class DaemonCase(OutpostCase):
    """Helpers shared by the classes below."""

    def session(self, login="app"):
        s = SmtpSession(self.op, login=login)
        self.addCleanup(s.close)
        return s

    def send_from(self, domain, login="app", rcpt="rcpt@example.net", **kw):
        token, data = message("Sender <sender@%s>" % domain, **kw)
        r = self.op.send("bounce@%s" % domain, [rcpt], data, login=login, addr="192.0.2.100")
        return token, r

    def assertDeliveredSigned(self, token, domain):
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, domain)
        return m

    def log_count(self, text):
        return self.op.milter_log_text().count(text)

    def wait_log_count(self, text, n, timeout=10.0):
        try:
            lab.wait_until(lambda: self.log_count(text) >= n, timeout, 0.02,
                           "milter log to show %r %d time(s)" % (text, n))
        except TimeoutError as exc:
            raise AssertionError("%s\nmilter log tail:\n%s" % (
                exc, self.op.milter_log_text()[-3000:])) from None


# --------------------------------------------------------------------------
# --check-config
# --------------------------------------------------------------------------

CHECK_DOMAIN = "check.outpost-daemon.test"


class CheckConfigTest(DaemonCase):
    START_MILTER = False

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        info = op.add_domain(CHECK_DOMAIN, tenant="acme")
        [cls.selector] = [s["name"] for s in info["selectors"]]

    def check(self, config_path):
        r = subprocess.run([milter_path(), "--config", config_path, "--check-config"],
                           capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout + r.stderr

    def variant(self, name, edit):
        """A copy of the working config, changed by ``edit(text) -> text``."""
        with open(self.op.config_path) as f:
            text = f.read()
        path = os.path.join(self.op.dir, name)
        with open(path, "w") as f:
            f.write(edit(text))
        self.addCleanup(os.unlink, path)
        return path

    def test_good_config_is_ok(self):
        rc, out = self.check(self.op.config_path)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"(?m)^%s: ok \(1 domains, 1 signing keys, [1-9]\d* tracking secrets\)$"
                         % re.escape(self.op.config_path))

    def test_unknown_key_names_file_line_column(self):
        def edit(text):
            lines = text.splitlines()
            i = lines.index("milter:")
            lines.insert(i + 1, '  pendng_action: "tempfail"')
            self.__class__.typo_line = i + 2
            return "\n".join(lines) + "\n"
        path = self.variant("typo.yaml", edit)
        rc, out = self.check(path)
        self.assertEqual(rc, EXIT_CONFIG, out)
        self.assertIn("%s:%d:3:" % (path, self.typo_line), out)
        self.assertIn("milter.pendng_action", out)
        self.assertIn("milter.pending_action", out)   # the suggestion
        self.assertNotIn(": ok (", out)

    def test_yaml_syntax_error_names_file_line(self):
        path = self.variant("syntax.yaml", lambda t: t + "milter: [unclosed\n")
        rc, out = self.check(path)
        self.assertEqual(rc, EXIT_CONFIG, out)
        self.assertRegex(out, re.escape(path) + r":\d+:\d+: YAML syntax")

    def test_missing_tracking_secret_names_tracking_init(self):
        missing = os.path.join(self.op.dir, "no-such-tracking.key")
        path = self.variant("nosecret.yaml",
                            lambda t: t.replace(self.op.secret_file, missing))
        rc, out = self.check(path)
        self.assertEqual(rc, EXIT_ENVIRONMENT, out)
        self.assertIn(missing, out)
        self.assertIn("outpostctl tracking init", out)
        self.assertNotIn(": ok (", out)

    def test_world_readable_dkim_key_is_reported(self):
        key = self.op.key_file(CHECK_DOMAIN, self.selector)
        os.chmod(key, 0o644)
        self.addCleanup(os.chmod, key, 0o600)
        rc, out = self.check(self.op.config_path)
        self.assertEqual(rc, EXIT_ENVIRONMENT, out)
        self.assertIn("DKIM key %s has mode 0644" % key, out)
        self.assertIn("chmod 600 %s" % key, out)
        self.assertNotIn(": ok (", out)
        os.chmod(key, 0o600)
        rc, out = self.check(self.op.config_path)
        self.assertEqual(rc, 0, out)


# --------------------------------------------------------------------------
# SIGHUP
# --------------------------------------------------------------------------

RELOAD_OK = "ok.reload-daemon.test"
RELOAD_PENDING = "pending.reload-daemon.test"
RELOADED = "reloaded configuration from "
NOT_RELOADED = "SIGHUP: configuration not reloaded, keeping the old one: "


class SighupReloadTest(DaemonCase):
    MILTER = {"pending_action": "reject"}

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(RELOAD_OK, tenant="acme")
        op.add_domain(RELOAD_PENDING, tenant="acme", publish=False, verify=False)
        op.add_key("app", tenant="acme", sasl="app")

    def rewrite(self, **milter):
        self.op.milter_overrides.update(milter)
        self.op.write_config()

    def hup(self):
        os.kill(self.op.milter.pid, signal.SIGHUP)

    def reload(self, **milter):
        n = self.log_count(RELOADED)
        self.rewrite(**milter)
        self.hup()
        self.wait_log_count(RELOADED, n + 1)

    def restore(self):
        self.reload(pending_action="reject")

    def test_sighup_right_after_start_is_a_reload(self):
        # The signals are blocked before the socket opens: a SIGHUP sent the
        # moment the socket exists waits for the signal thread and reloads,
        # instead of ending the milter (its default action).
        op = self.op
        for attempt in range(3):
            op.stop_milter()
            if os.path.exists(op.sock):
                os.unlink(op.sock)  # the old one's: the new socket is the signal to wait for
            n = self.log_count(RELOADED)
            op.milter = lab.Process([outpostlab.milter_path(), "--config", op.config_path,
                                     "--foreground"], op.milter_log).start()
            lab.wait_until(lambda: os.path.exists(op.sock), 15, 0.001, "the milter's socket")
            self.hup()
            self.wait_log_count(RELOADED, n + 1)
            self.assertTrue(op.milter.alive(), "SIGHUP at start ended the milter (attempt %d)\n%s"
                            % (attempt, op.milter_log_text()[-2000:]))
        op.start_milter()  # waits until it answers, for the tests after this one

    def test_sighup_switches_pending_action(self):
        pid = self.op.milter.pid
        token, r = self.send_from(RELOAD_PENDING)
        self.assertReply(r, 550, "5.7.1", "DOMAIN_PENDING_VERIFICATION")
        self.addCleanup(self.restore)
        self.reload(pending_action="tempfail")
        token, r = self.send_from(RELOAD_PENDING)
        self.assertReply(r, 451, "4.7.1", "DOMAIN_PENDING_VERIFICATION")
        self.assertNotDelivered(token)
        # The same process, still signing.
        self.assertEqual(self.op.milter.pid, pid)
        self.assertTrue(self.op.milter.alive())
        token, r = self.send_from(RELOAD_OK)
        self.assertAccepted(r)
        self.assertDeliveredSigned(token, RELOAD_OK)

    def test_connection_keeps_its_generation(self):
        # A milter connection opened before the SIGHUP keeps the old config
        # for its next message; a connection opened after gets the new one.
        old = self.session()
        code, text = old.message("bounce@%s" % RELOAD_PENDING, "rcpt@example.net",
                                 message("s@%s" % RELOAD_PENDING)[1])
        self.assertEqual((code, text.split(" ")[:2]), (550, ["5.7.1", "DOMAIN_PENDING_VERIFICATION"]),
                         text)
        self.addCleanup(self.restore)
        self.reload(pending_action="tempfail")
        code, text = old.message("bounce@%s" % RELOAD_PENDING, "rcpt@example.net",
                                 message("s@%s" % RELOAD_PENDING)[1])
        self.assertEqual((code, text.split(" ")[:2]), (550, ["5.7.1", "DOMAIN_PENDING_VERIFICATION"]),
                         "a connection older than the reload changed config: %s" % text)
        token, r = self.send_from(RELOAD_PENDING)
        self.assertReply(r, 451, "4.7.1", "DOMAIN_PENDING_VERIFICATION")

    def test_bad_config_on_sighup_keeps_old_one(self):
        pid = self.op.milter.pid
        n_bad, n_ok = self.log_count(NOT_RELOADED), self.log_count(RELOADED)
        self.addCleanup(self.restore)
        # A tempfail setting that would take effect, plus a syntax error.
        self.rewrite(pending_action="tempfail")
        with open(self.op.config_path, "a") as f:
            f.write("milter: [unclosed\n")
        self.hup()
        self.wait_log_count(NOT_RELOADED, n_bad + 1)
        log = self.op.milter_log_text()
        self.assertRegex(log, re.escape(NOT_RELOADED) + re.escape(self.op.config_path)
                         + r":\d+:\d+: YAML syntax")
        self.assertEqual(self.log_count(RELOADED), n_ok)
        self.assertTrue(self.op.milter.alive(), log[-3000:])
        self.assertEqual(self.op.milter.pid, pid)
        # Mail is processed as before: pending still rejected, not tempfailed.
        token, r = self.send_from(RELOAD_PENDING)
        self.assertReply(r, 550, "5.7.1", "DOMAIN_PENDING_VERIFICATION")
        token, r = self.send_from(RELOAD_OK)
        self.assertAccepted(r)
        self.assertDeliveredSigned(token, RELOAD_OK)


# --------------------------------------------------------------------------
# SIGTERM
# --------------------------------------------------------------------------

DRAIN = "drain.outpost-daemon.test"
DRAIN_TIMEOUT = 20  # seconds; the drained message finishes long before


class SigtermDrainTest(DaemonCase):
    MILTER = {"drain_timeout": "%ds" % DRAIN_TIMEOUT}

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(DRAIN, tenant="acme")
        op.add_key("app", tenant="acme", sasl="app")

    def test_sigterm_drains_message_in_progress(self):
        op = self.op
        milter = op.milter
        pid = milter.pid
        # Session A: a message in the middle of its body.
        token_a, data_a = message("Drain <drain@%s>" % DRAIN, body="first half\n" * 50)
        split = data_a.index(b"\r\n\r\n") + 4 + 200
        a = self.session()
        self.assertEqual(a.begin("bounce@%s" % DRAIN, "a@example.net"), 354)
        a.send_raw(data_a[:split])
        # Session B: connected (milter negotiated) before the SIGTERM, no
        # transaction yet.
        b = self.session()

        os.kill(pid, signal.SIGTERM)
        self.wait_log_count("SIGTERM: draining 1 message(s) in progress", 1)

        # New connection while draining: refused at negotiation; Postfix
        # (milter_default_action = tempfail) tempfails, delivers nothing.
        token_c, r = self.send_from(DRAIN)
        self.assertFalse(r.ok, str(r))
        self.assertEqual((r.code, r.text), (451, POSTFIX_TEMPFAIL), str(r))
        # New message on the old connection: 421 4.3.2 SHUTTING_DOWN.
        token_b, data_b = message("Drain <drain@%s>" % DRAIN)
        try:
            code, text = b.message("bounce@%s" % DRAIN, "b@example.net", data_b)
        except smtplib.SMTPServerDisconnected as exc:
            code, text = -1, str(exc)
        self.assertEqual(code, 421, text)
        self.assertIn("4.3.2 SHUTTING_DOWN", text)
        self.assertIn("decision=tempfail reply=\"421 4.3.2\" reason=SHUTTING_DOWN",
                      op.milter_log_text())

        # The drain waits for A.
        self.assertTrue(milter.alive(), "milter stopped before the message in progress ended")
        a.send_raw(data_a[split:])
        code, text = a.end()
        self.assertEqual(code, 250, "%s\n%s" % (text, op.diagnostics()))

        # ... then the milter exits by itself, well within drain_timeout.
        try:
            rc = milter.proc.wait(DRAIN_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail("milter still running %ds after SIGTERM with nothing in progress:\n%s"
                      % (DRAIN_TIMEOUT, op.milter_log_text()[-3000:]))
        self.assertEqual(rc, 0, op.milter_log_text()[-3000:])
        log = op.milter_log_text()
        self.assertIn("stopped", log)
        self.assertNotIn("stopping with", log)   # nothing cut off

        [m] = op.wait_delivered(token_a)
        self.assertSigned(m, DRAIN)
        self.assertIn(b"first half", m.data)
        self.assertEqual(m.rcpts, ["a@example.net"])

        # After exit: tempfailed by Postfix.
        token_d, r = self.send_from(DRAIN)
        self.assertEqual((r.ok, r.code, r.text), (False, 451, POSTFIX_TEMPFAIL), str(r))
        op.postfix.wait_queue_empty(20)
        for t in (token_b, token_c, token_d):
            self.assertNotDelivered(t)
        self.assertEqual(len(op.delivered(token_a)), 1)

        # Restarted, it signs again (and the class's cleanup has a milter to stop).
        op.start_milter()
        token_e, r = self.send_from(DRAIN)
        self.assertAccepted(r)
        self.assertDeliveredSigned(token_e, DRAIN)


# --------------------------------------------------------------------------
# Privilege drop
# --------------------------------------------------------------------------

PRIV = "priv.outpost-daemon.test"


class PrivilegeDropTest(DaemonCase):
    MILTER = {"user": "nobody"}

    @classmethod
    def setUpOutpost(cls, op):
        import pwd
        cls.nobody = pwd.getpwnam("nobody")
        # outpostctl runs as root here: what it creates goes to milter.user.
        op.add_tenant("acme")
        info = op.add_domain(PRIV, tenant="acme")
        [cls.selector] = [s["name"] for s in info["selectors"]]
        # A warmup ramp, so that every recipient is counted by the milter.
        op.ctl("domain", "set", PRIV, "--warmup-days", "14")
        op.add_key("app", tenant="acme", sasl="app")

    def test_store_and_keys_belong_to_milter_user(self):
        st = os.stat(self.op.key_file(PRIV, self.selector))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (self.nobody.pw_uid, 0o600))
        self.assertEqual(os.stat(self.op.store_path).st_uid, self.nobody.pw_uid)
        self.assertEqual(os.stat(self.op.keys_path).st_uid, self.nobody.pw_uid)
        # Everything outpostctl created (LMDB data and lock files, counters)
        # is the milter's, so it can write counters and open the store.
        not_nobody = []
        for top in (self.op.store_path, self.op.keys_path):
            for root, dirs, files in os.walk(top):
                for name in dirs + files:
                    p = os.path.join(root, name)
                    if os.lstat(p).st_uid != self.nobody.pw_uid:
                        not_nobody.append(p)
        self.assertEqual(not_nobody, [])

    def test_runs_as_nobody_and_signs(self):
        pid = self.op.milter.pid
        status = proc_status(pid)
        uids = [int(x) for x in status["Uid"].split()]
        gids = [int(x) for x in status["Gid"].split()]
        self.assertEqual(uids, [self.nobody.pw_uid] * 4, status["Uid"])
        self.assertEqual(gids, [self.nobody.pw_gid] * 4, status["Gid"])
        self.assertIn("as uid %d" % self.nobody.pw_uid, self.op.milter_log_text())
        # Postfix (group postfix) can still reach the socket.
        st = os.stat(self.op.sock)
        import grp
        self.assertEqual(st.st_gid, grp.getgrnam("postfix").gr_gid)
        self.assertEqual(st.st_mode & 0o777, 0o660)
        tokens = []
        for i in range(3):
            token, r = self.send_from(PRIV, rcpt="r%d@example.net" % i)
            self.assertAccepted(r)
            tokens.append(token)
        for token in tokens:
            self.assertDeliveredSigned(token, PRIV)
        # Counters were written as nobody: outpostctl (root) reads them back.
        warmup = self.op.domain(PRIV)["warmup"]
        self.assertEqual(warmup["used_today"], 3, warmup)
        self.assertNotIn("counters sync failed", self.op.milter_log_text())
        self.assertEqual(proc_status(pid)["Uid"].split()[0], str(self.nobody.pw_uid))


# --------------------------------------------------------------------------
# inet: socket
# --------------------------------------------------------------------------

INET = "inet.outpost-daemon.test"


class InetSocketTest(DaemonCase):
    @classmethod
    def setUpClass(cls):
        cls.port = lab.free_port()
        cls.MILTER = {"listen": "inet:%d@127.0.0.1" % cls.port}
        spec = "inet:127.0.0.1:%d" % cls.port
        cls.POSTFIX = {"smtpd_milters": spec, "non_smtpd_milters": spec}
        super().setUpClass()

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(INET, tenant="acme")
        op.add_key("app", tenant="acme", sasl="app")

    def test_listens_on_tcp_only(self):
        self.assertTrue(lab.tcp_listening(self.port))
        self.assertFalse(os.path.exists(self.op.sock))
        # The line follows the listen (a slow build, the sanitizers', writes
        # it after the port is already open).
        lab.wait_until(lambda: "listening on" in self.op.milter_log_text(), 10, 0.05,
                       "the milter's 'listening on' line")
        self.assertIn("listening on inet:%d@127.0.0.1" % self.port, self.op.milter_log_text())
        self.assertIn("TCP_NODELAY set", self.op.milter_log_text())
        self.assertEqual(self.op.postfix.main_cf()["smtpd_milters"], "inet:127.0.0.1:%d" % self.port)

    def test_message_signed(self):
        token, r = self.send_from(INET)
        self.assertAccepted(r)
        self.assertDeliveredSigned(token, INET)

    def test_twenty_messages_in_one_session(self):
        s = self.session()
        tokens = []
        for i in range(20):
            token, data = message("Sender <sender@%s>" % INET, body="message %d\n" % i)
            code, text = s.message("bounce@%s" % INET, "r%d@example.net" % i, data)
            self.assertEqual(code, 250, "message %d: %s\n%s" % (i, text, self.op.diagnostics()))
            tokens.append(token)
        for i, token in enumerate(tokens):
            m = self.assertDeliveredSigned(token, INET)
            self.assertEqual(m.rcpts, ["r%d@example.net" % i])


# --------------------------------------------------------------------------
# Sandbox quarantine
# --------------------------------------------------------------------------

SANDBOX = "sandbox.outpost-daemon.test"
SANDBOX_PENDING = "pending.sandbox-daemon.test"


class SandboxQuarantineTest(DaemonCase):
    MILTER = {"sandbox_mode": "quarantine"}

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(SANDBOX, tenant="acme")
        # Records published (so the signature can be checked) but never verified.
        op.add_domain(SANDBOX_PENDING, tenant="acme", publish=True, verify=False)
        op.add_key("sbx", tenant="acme", sasl="sbx", sandbox=True)
        op.add_key("app", tenant="acme", sasl="app")

    def held(self, queue_id, timeout=20.0):
        """The queue entry of ``queue_id`` once it sits in the hold queue."""
        def find():
            for q in self.op.postfix.queue():
                if q["queue_id"] == queue_id and q["queue_name"] == "hold":
                    return q
            return None
        try:
            return lab.wait_until(find, timeout, 0.05, "%s in the hold queue" % queue_id)
        except TimeoutError as exc:
            raise AssertionError("%s\nqueue: %s\n%s" % (exc, self.op.postfix.queue(),
                                                       self.op.diagnostics())) from None

    def release(self, queue_id):
        subprocess.run([lab.POSTFIX_SBIN + "/postsuper", "-c", self.op.postfix.config_dir,
                        "-H", queue_id], check=True, capture_output=True, timeout=30)

    def quarantine_and_release(self, domain):
        rcpts = ["one@example.net", "two@example.org"]
        token, data = message("Dev <dev@%s>" % domain)
        r = self.op.send("bounce@%s" % domain, rcpts, data, login="sbx", addr="192.0.2.100")
        self.assertAccepted(r)
        self.assertEqual(r.code, 250)
        self.assertTrue(r.queue_id, str(r))
        q = self.held(r.queue_id)
        self.assertEqual(sorted(x["address"] for x in q["recipients"]), sorted(rcpts))
        self.assertRegex(self.op.milter_log_text(),
                         r"%s: decision=sandbox domain=%s key=sbx" % (r.queue_id, re.escape(domain)))
        self.assertIn(r.queue_id, self.op.postfix.log())
        # Held is not delivered: not to the recipients, not to anyone.
        self.assertNotDelivered(token, settle=1.5)
        self.assertEqual([q2["queue_name"] for q2 in self.op.postfix.queue()
                          if q2["queue_id"] == r.queue_id], ["hold"])
        # What is held is the signed message: released, it arrives signed.
        self.release(r.queue_id)
        self.op.postfix.flush()
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, domain)
        self.assertEqual(sorted(m.rcpts), sorted(rcpts))

    def test_sandbox_mail_is_held_signed(self):
        self.quarantine_and_release(SANDBOX)

    def test_sandbox_mail_from_unverified_domain_is_held(self):
        # Sandbox keys skip the verification check; a normal key does not.
        self.assertEqual(self.op.domain(SANDBOX_PENDING)["status"], "pending")
        token, r = self.send_from(SANDBOX_PENDING, login="app")
        self.assertReply(r, 550, "5.7.1", "DOMAIN_PENDING_VERIFICATION")
        self.quarantine_and_release(SANDBOX_PENDING)

    def test_normal_key_is_not_held(self):
        token, r = self.send_from(SANDBOX, login="app")
        self.assertAccepted(r)
        self.assertDeliveredSigned(token, SANDBOX)
        self.assertNotIn("hold", [q["queue_name"] for q in self.op.postfix.queue()
                                  if q["queue_id"] == r.queue_id])


if __name__ == "__main__":
    unittest.main()
