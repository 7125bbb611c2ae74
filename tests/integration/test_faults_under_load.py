"""Two faults of issue 11 under load, through a real Postfix with
outpost-milter inline: the loopback DNS server gone, and the tracking secret
file unreadable.

* DNS gone: while messages flow for a verified domain, the lab's unbound
  (the server dns.upstream names) is stopped, by its PID.  `outpostctl domain
  verify` then fails clearly (a non-zero exit status, the output naming
  DNS), keeps the domain verified (`domain show`, `domain list`) and records
  its checks as `error`; the milter needs no DNS, so mail keeps flowing,
  signed.  unbound started again, `domain verify` succeeds again, nothing
  restarted.

* Secret unreadable: the milter runs as nobody (milter.user), outpost-trackd
  drops to nobody (tracking.user).  Under load the secret file is made mode
  0000 and both get SIGHUP: each refuses the reload with a log line naming
  the file and keeps the secrets it has, so tracked mail keeps flowing
  (tracked, signed, sealed with the old key) and trackd keeps answering its
  links.  A `tracking rotate` while the file is unreadable changes nothing
  either.  Mode 0640 again and SIGHUP: both reload, new links are sealed
  with the new key and both keys' links are answered.  The milter counts the
  refused reloads (`outpostctl stats --milter`: reload_errors).

Every message accepted is delivered exactly once and verifies with dkimpy
(checked once the DNS server is up: the verifier needs it for the public
keys); every HTML one is tracked.  Bounded: 4 SMTP clients pacing
themselves, at most OUTPOST_FAULT_LOAD_CAP messages (default 1500) per
test, a deadline per phase; loopback only; only processes this test started
are signalled, by PID.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_faults_under_load
"""

import collections
import json
import os
import pwd
import re
import signal
import stat
import threading
import time
import unittest

import lab
import outpostlab
from outpostlab import OutpostCase, message

SHOP = "https://shop.example.com/item?id=42"
CLIENTS = 4
PAUSE = 0.04          # seconds a client waits between two messages
CAP = int(os.environ.get("OUTPOST_FAULT_LOAD_CAP", "1500"))
DEADLINE = 150        # seconds a load may run at most

MILTER_RELOADED = "reloaded configuration from "
MILTER_NOT_RELOADED = "SIGHUP: configuration not reloaded, keeping the old one: "
TRACKD_RELOADED = "SIGHUP: reloaded "
TRACKD_NOT_RELOADED = "SIGHUP: not reloaded, keeping the old configuration and secrets: "


class Load:
    """A bounded, paced load of messages for one domain from CLIENTS SMTP
    clients: message i is HTML with click and open tracking when i is odd,
    plain text when even.  A client that gets a 4xx sends the message again
    after a pause, as an application would (bounded: 20 tries); a 5xx is
    final.  ``start()``, ``stop()``; ``accepted_between(t0, t1)``."""

    def __init__(self, case, domain, prefix):
        self.case = case
        self.op = case.op
        self.domain = domain
        self.prefix = "%s-%d" % (prefix, os.getpid())
        self.token_re = re.compile(re.escape(self.prefix).encode() + rb"-\d{5}")
        self.lock = threading.Lock()
        self.next = 0
        self.stopping = threading.Event()
        self.sent = {}          # token -> (i, t_start, t_end, final SmtpResult, tries)
        self.refused = []       # (token, SmtpResult) of every refusal
        self.threads = []
        self.t0 = self.t1 = None

    def build(self, i):
        token = "%s-%05d" % (self.prefix, i)
        rcpt = "r%05d@example.net" % i
        if i % 2:
            data = outpostlab.html_message("News <news@%s>" % self.domain, rcpt, token, SHOP)
        else:
            data = message("app@%s" % self.domain, to=rcpt, token=token,
                           body="plain message %d\n" % i)[1]
        return token, rcpt, data

    def _client(self):
        deadline = time.monotonic() + DEADLINE
        while not self.stopping.is_set() and time.monotonic() < deadline:
            with self.lock:
                i = self.next
                if i >= CAP:
                    return
                self.next += 1
            token, rcpt, data = self.build(i)
            t_start = time.monotonic()
            for attempt in range(20):
                r = self.op.send("bounce@%s" % self.domain, [rcpt], data, login="app",
                                 addr="192.0.2.100")
                if r.ok or not (r.code == -1 or r.code // 100 == 4):
                    break
                with self.lock:
                    self.refused.append((token, r))
                time.sleep(0.2)
            with self.lock:
                if not r.ok:
                    self.refused.append((token, r))
                self.sent[token] = (i, t_start, time.monotonic(), r, attempt + 1)
            time.sleep(PAUSE)

    def start(self):
        self.t0 = time.monotonic()
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(CLIENTS)]
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        self.t1 = time.monotonic()
        for t in self.threads:
            self.case.assertFalse(t.is_alive(), "an SMTP client hung")

    def accepted_between(self, t0, t1):
        """Tokens of messages whose whole submission fell in [t0, t1] and
        that were accepted."""
        with self.lock:
            return [tok for tok, (i, a, b, r, _) in self.sent.items()
                    if r.ok and a >= t0 and b <= t1]

    def wait_accepted_after(self, t0, n, timeout=30.0, what="messages"):
        lab.wait_until(lambda: len(self.accepted_between(t0, float("inf"))) >= n, timeout,
                       0.05, "%d %s accepted" % (n, what))

    def is_html(self, token):
        return self.sent[token][0] % 2 == 1

    def check_delivered(self):
        """Every accepted message delivered exactly once, signed (dkimpy,
        against the loopback DNS: it must be up), the HTML ones tracked.
        Returns (figures dict, {token: SinkMessage})."""
        case, op = self.case, self.op
        accepted = [t for t, v in self.sent.items() if v[3].ok]
        case.assertEqual(sorted(accepted), sorted(self.sent),
                         "not accepted: %s" % [(t, str(v[3])) for t, v in self.sent.items()
                                               if not v[3].ok][:5])

        def arrived():
            return len([m for m in op.sink.messages() if self.token_re.search(m.data)])
        try:
            lab.wait_until(lambda: arrived() >= len(accepted), 90, 0.1,
                           "%d deliveries" % len(accepted))
        except TimeoutError:
            pass            # the counts below say what is missing
        op.postfix.wait_queue_empty(60)
        time.sleep(0.5)
        seen, delivered = outpostlab.deliveries_by_token(case, op.sink.messages(), self.token_re,
                                                         skip_untokened=True)
        twice = [t for t, c in seen.items() if c > 1]
        lost = [t for t in accepted if t not in seen]
        strangers = [t for t in seen if t not in self.sent]
        case.assertEqual(twice, [], "delivered more than once")
        case.assertEqual(lost, [], "accepted but never delivered (lost)\n%s" % op.diagnostics())
        case.assertEqual(strangers, [], "delivered but never accepted")
        tracked = 0
        for tok, m in delivered.items():
            case.assertSigned(m, self.domain)
            if self.is_html(tok):
                case.assertTrue(click_links(m), "HTML message %s not tracked" % tok)
                tracked += 1
        figures = {
            "sent": len(self.sent),
            "accepted_first_try": sum(1 for v in self.sent.values() if v[3].ok and v[4] == 1),
            "accepted_after_retry": sum(1 for v in self.sent.values() if v[3].ok and v[4] > 1),
            "replies_4xx": sum(1 for _, r in self.refused if r.code == -1 or r.code // 100 == 4),
            "replies_5xx": sum(1 for _, r in self.refused if r.code // 100 == 5),
            "delivered": len(seen), "signed": len(delivered), "tracked": tracked,
            "lost": len(lost), "duplicated": len(twice),
            "seconds": round(self.t1 - self.t0, 1),
        }
        return figures, delivered


def html_of(m):
    return outpostlab.text_part(m.email(), "html").get_content()


def click_links(m):
    return re.findall(r'href="(https://[^"]*/c/[^"]+)"', html_of(m))


def pixel_links(m):
    return re.findall(r'src="(https://[^"]*/o/[^"]+)"', html_of(m))


def kid_of(url):
    """The key id a link's token was sealed with: token = "2" KID "." ..."""
    token = url.rstrip("/").rsplit("/", 1)[1]
    return token[1:token.index(".")]


def proc_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        return [int(x) for x in f.read().split("Uid:", 1)[1].split()[:4]]


# --------------------------------------------------------------------------
# The DNS server gone
# --------------------------------------------------------------------------

DNS_DOMAIN = "dns.outpost-load-fault.test"


class DnsGoneUnderLoadTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DNS_DOMAIN)
        op.ctl("domain", "set", DNS_DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("app", sasl="app")

    def test_dns_server_gone_under_load(self):
        op = self.op
        self.assertEqual(op.domain(DNS_DOMAIN)["status"], "verified")
        milter_pid = op.milter.pid
        load = Load(self, DNS_DOMAIN, "dnsgone").start()
        try:
            load.wait_accepted_after(load.t0, 40, what="messages before the outage")

            # unbound, the server dns.upstream names, stopped (SIGTERM to the
            # PID the lab started); a UDP query now times out.
            dns_pid = op.dns.process.pid
            op.dns.stop()
            self.assertFalse(lab.pid_alive(dns_pid), "unbound still runs")
            self.assertIn(op.dns.lookup(DNS_DOMAIN, "TXT", timeout=0.5).rcode,
                          ("TIMEOUT", "UNREACHABLE"))
            out_t0 = time.monotonic()
            before = op.domain(DNS_DOMAIN)
            t = time.monotonic()
            r = op.ctl("domain", "verify", DNS_DOMAIN, check=False)
            verify_secs = time.monotonic() - t
            during = op.domain(DNS_DOMAIN)
            listed = {d["name"]: d for d in op.ctl_json("domain", "list", "--json")}
            show_text = op.ctl("domain", "show", DNS_DOMAIN).stdout
            # Mail keeps flowing during the outage: more messages accepted
            # while the server is down.
            load.wait_accepted_after(out_t0, 60, what="messages during the outage")
            out_t1 = time.monotonic()
            during_outage = load.accepted_between(out_t0, out_t1)
            op.dns.start()
            self.assertTrue(op.dns.running())
            r2 = op.ctl("domain", "verify", DNS_DOMAIN, check=False)
            after = op.domain(DNS_DOMAIN)
            back_t0 = time.monotonic()
            load.wait_accepted_after(back_t0, 60, what="messages after the outage")
        finally:
            load.stop()

        verify_output = r.stdout + r.stderr
        # The domain stays verified, in the store and in every listing.
        self.assertEqual(during["status"], "verified", verify_output)
        self.assertEqual(listed[DNS_DOMAIN]["status"], "verified", listed[DNS_DOMAIN])
        self.assertRegex(show_text, r"(?m)^status:\s+verified$")
        # The attempt is recorded: its checks saved as `error` (nothing was
        # concluded), with the time of the check.
        checks = {c["name"]: c for c in during["checks"]}
        required = [n for n in checks if n.startswith("dkim:")] + ["spf"]
        self.assertGreater(len(required), 1, checks)
        before_checks = {c["name"]: c["status"] for c in before["checks"]}
        for name in required:
            self.assertEqual(before_checks[name], "ok", before_checks)
            self.assertEqual(checks[name]["status"], "error", checks[name])
            self.assertIn("nothing was concluded", checks[name]["hint"])
        self.assertGreater(during["checked_at"], 0)
        # A clear message naming DNS, within about one dns.timeout.
        self.assertIn("DNS", verify_output)
        self.assertIn("dns.upstream", verify_output)
        self.assertLess(verify_secs, 15.0)
        self.assertGreater(len(during_outage), 0, "no message was sent during the outage")

        # DNS back: verify succeeds again (no restart of anything).
        self.assertEqual(r2.returncode, 0, r2.stdout + r2.stderr)
        self.assertEqual(after["status"], "verified")
        self.assertEqual({c["name"]: c["status"] for c in after["checks"]
                          if c["name"] in required}, {n: "ok" for n in required})
        self.assertEqual(op.milter.pid, milter_pid)
        self.assertTrue(op.milter.alive())

        # Every message accepted delivered once, signed (dkimpy, DNS up
        # again), the HTML ones tracked; none refused.
        figures, _ = load.check_delivered()
        self.assertEqual(load.refused, [], [str(x[1]) for x in load.refused[:5]])
        figures["accepted_during_outage"] = len(during_outage)
        summary = ("DNS server gone under load: %(sent)d messages (%(tracked)d HTML tracked) "
                   "from %(clients)d clients in %(seconds)s s, %(accepted_during_outage)d "
                   "accepted while unbound was stopped; accepted at the first try "
                   "%(accepted_first_try)d, after a retry %(accepted_after_retry)d, "
                   "4xx %(replies_4xx)d, 5xx %(replies_5xx)d; delivered exactly once "
                   "%(delivered)d, signed %(signed)d, lost %(lost)d, duplicated %(duplicated)d"
                   % dict(figures, clients=CLIENTS))
        summary += ("; domain verify during the outage: exit %d in %.1f s, status kept "
                    "verified, checks %s; after: exit %d, verified"
                    % (r.returncode, verify_secs,
                       {n: checks[n]["status"] for n in sorted(checks)}, r2.returncode))
        outpostlab.record_figure("dns_gone_under_load", summary)
        print("domain verify output during the outage:\n" + verify_output)

        # Last, as its own point: the exit status says the check did not
        # happen (like `relay verify`, which exits 7 when DNS did not
        # answer).  A verified domain whose records could not be read is
        # not "verified again": a timer or cron job relying on the exit
        # status must see the outage.
        self.assertNotEqual(r.returncode, 0,
                            "domain verify exited 0 while no DNS server answered:\n"
                            + verify_output)


# --------------------------------------------------------------------------
# The tracking secret unreadable
# --------------------------------------------------------------------------

SECRET_DOMAIN = "secret.outpost-load-fault.test"


@unittest.skipUnless(os.geteuid() == 0, "milter.user and tracking.user need root")
class SecretUnreadableUnderLoadTest(OutpostCase):
    # Both services run as nobody, so a mode 0000 file is really unreadable
    # to them (root would read it anyway).
    MILTER = {"user": "nobody"}

    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(SECRET_DOMAIN)
        op.ctl("domain", "set", SECRET_DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("app", sasl="app")
        op.start_trackd()

    def kids(self):
        """{key id: "current" | "accepted"} from `outpostctl tracking show`."""
        out = self.op.ctl("tracking", "show").stdout
        return dict(re.findall(r"^\s+([A-Za-z0-9]{1,8})\s+\((current|accepted)\)$", out, re.M))

    def milter_log_count(self, text):
        return self.op.milter_log_text().count(text)

    def trackd_log_count(self, text):
        return self.op.trackd_log_text().count(text)

    def hup_both(self, expect_ok):
        """SIGHUP to the milter and trackd (by PID); wait for the log line
        saying the reload was done (``expect_ok``) or refused.  Returns the
        new log lines (milter, trackd)."""
        op = self.op
        m_text, t_text = ((MILTER_RELOADED, TRACKD_RELOADED) if expect_ok
                          else (MILTER_NOT_RELOADED, TRACKD_NOT_RELOADED))
        m_len, t_len = len(op.milter_log_text()), len(op.trackd_log_text())
        m_n, t_n = self.milter_log_count(m_text), self.trackd_log_count(t_text)
        os.kill(op.milter.pid, signal.SIGHUP)
        os.kill(op.trackd.pid, signal.SIGHUP)
        try:
            lab.wait_until(lambda: self.milter_log_count(m_text) > m_n, 10, 0.02,
                           "milter log: %r" % m_text)
            lab.wait_until(lambda: self.trackd_log_count(t_text) > t_n, 10, 0.02,
                           "trackd log: %r" % t_text)
        except TimeoutError as exc:
            raise AssertionError("%s\nmilter log tail:\n%s\ntrackd log tail:\n%s" % (
                exc, op.milter_log_text()[-2000:], op.trackd_log_text()[-2000:])) from None
        return op.milter_log_text()[m_len:], op.trackd_log_text()[t_len:]

    def first_html_between(self, load, t0, t1, n=1):
        """Delivered HTML messages submitted within [t0, t1] (waits for them)."""
        tokens = [t for t in load.accepted_between(t0, t1) if load.is_html(t)][:n]
        self.assertTrue(tokens, "no HTML message accepted in that window")
        return [self.op.wait_delivered(t)[0] for t in tokens]

    def assertAnswered(self, m, what):
        """trackd answers the message's click link (302 to the shop) and its
        pixel (200)."""
        clicks = click_links(m)
        self.assertTrue(clicks, "%s: no click link" % what)
        click = clicks[0]           # the first link of html_message(): the shop
        r, _ = self.op.http(click)
        self.assertEqual((r.status, r.getheader("Location")), (302, SHOP),
                         "%s: click %s\n%s" % (what, click, self.op.trackd_log_text()[-1500:]))
        [pixel] = pixel_links(m)
        r, _ = self.op.http(pixel)
        self.assertEqual(r.status, 200, "%s: pixel %s" % (what, pixel))
        return click

    def test_secret_unreadable_under_load(self):
        op = self.op
        nobody = pwd.getpwnam("nobody").pw_uid
        milter_pid, trackd_pid = op.milter.pid, op.trackd.pid
        # Both listen before they drop root: wait (bounded) for the drop.
        for pid in (milter_pid, trackd_pid):
            try:
                lab.wait_until(lambda: proc_uid(pid) == [nobody] * 4, 10, 0.02, "root dropped")
            except TimeoutError:
                pass
        self.assertEqual(proc_uid(milter_pid), [nobody] * 4)
        self.assertEqual(proc_uid(trackd_pid), [nobody] * 4)
        secret = op.secret_file
        mode = stat.S_IMODE(os.stat(secret).st_mode)
        [old_kid] = self.kids()
        self.assertEqual(self.kids()[old_kid], "current")
        log_lines = {}

        load = Load(self, SECRET_DOMAIN, "secret").start()
        try:
            load.wait_accepted_after(load.t0, 40, what="messages before the fault")

            # The file unreadable to nobody; both reloads refused, naming it.
            os.chmod(secret, 0)
            m_log, t_log = self.hup_both(expect_ok=False)
            b_t0 = time.monotonic()
            log_lines["milter refused"] = [l for l in m_log.splitlines()
                                           if MILTER_NOT_RELOADED in l]
            log_lines["trackd refused"] = [l for l in t_log.splitlines()
                                           if TRACKD_NOT_RELOADED in l]
            self.assertIn(secret, log_lines["milter refused"][0])
            self.assertIn(secret, log_lines["trackd refused"][0])
            self.assertRegex(log_lines["milter refused"][0], r"(?i)permission denied|cannot read")
            self.assertTrue(op.milter.alive() and op.trackd.alive())

            # Mail keeps flowing, tracked with the old secret, and trackd
            # answers its links.
            load.wait_accepted_after(b_t0, 60, what="messages with the file unreadable")
            [m_b] = self.first_html_between(load, b_t0, time.monotonic())
            click_b = self.assertAnswered(m_b, "unreadable secret")
            self.assertEqual(kid_of(click_b), old_kid)

            # A rotation while the file is unreadable to the services (root,
            # outpostctl, can still write it): a reload is refused again,
            # and new links are still sealed with the old key.
            rot = op.ctl("tracking", "rotate", check=False)
            self.assertEqual(rot.returncode, 0, rot.stdout + rot.stderr)
            kids = self.kids()
            self.assertEqual(len(kids), 2, kids)
            new_kid = [k for k in kids if k != old_kid][0]
            self.assertEqual(kids[new_kid], "current")
            mode_after_rotate = stat.S_IMODE(os.stat(secret).st_mode)
            m_log, t_log = self.hup_both(expect_ok=False)
            r_t0 = time.monotonic()
            load.wait_accepted_after(r_t0, 40, what="messages after the rotation")
            [m_r] = self.first_html_between(load, r_t0, time.monotonic())
            click_r = self.assertAnswered(m_r, "rotated, unreadable secret")
            self.assertEqual(kid_of(click_r), old_kid)

            # Readable again: both reload; new links use the new key, and
            # links of both keys are answered.
            os.chmod(secret, mode)
            m_log, t_log = self.hup_both(expect_ok=True)
            c_t0 = time.monotonic()
            log_lines["milter reloaded"] = [l for l in m_log.splitlines() if MILTER_RELOADED in l]
            log_lines["trackd reloaded"] = [l for l in t_log.splitlines() if TRACKD_RELOADED in l]
            self.assertIn("2 tracking secret(s)", log_lines["trackd reloaded"][0])
            load.wait_accepted_after(c_t0, 60, what="messages after the file was restored")
            [m_c] = self.first_html_between(load, c_t0, time.monotonic())
            click_c = self.assertAnswered(m_c, "restored secret")
            self.assertEqual(kid_of(click_c), new_kid)
            self.assertAnswered(m_b, "old key after the reload")
        finally:
            if stat.S_IMODE(os.stat(secret).st_mode) != mode:
                os.chmod(secret, mode)
            load.stop()

        self.assertEqual((op.milter.pid, op.trackd.pid), (milter_pid, trackd_pid))
        self.assertTrue(op.milter.alive() and op.trackd.alive())
        figures, delivered = load.check_delivered()
        self.assertEqual(load.refused, [], [str(x[1]) for x in load.refused[:5]])
        # Every HTML message sealed with the key the milter held when it was
        # submitted (each message is a new SMTP connection, so a new milter
        # connection): the old one until the successful reload, the new one
        # after it.
        sealed = collections.Counter()
        for tok, m in delivered.items():
            if not load.is_html(tok):
                continue
            _, t_start, t_end, _, _ = load.sent[tok]
            kids = {kid_of(url) for url in click_links(m) + pixel_links(m)}
            if t_end < c_t0 - 0.5:
                self.assertEqual(kids, {old_kid}, tok)
            elif t_start > c_t0:
                self.assertEqual(kids, {new_kid}, tok)
            sealed[tuple(sorted(kids))] += 1
        refused_m = self.milter_log_count(MILTER_NOT_RELOADED)
        refused_t = self.trackd_log_count(TRACKD_NOT_RELOADED)
        self.assertEqual((refused_m, refused_t), (2, 2))
        summary = ("tracking secret unreadable under load (mode 0000, milter and trackd as "
                   "nobody, SIGHUP to both, then `tracking rotate` and SIGHUP, then mode %04o "
                   "and SIGHUP): %d messages (%d HTML tracked) from %d clients in %s s; accepted "
                   "at the first try %d, after a retry %d, 4xx %d, 5xx %d; delivered exactly "
                   "once %d, signed %d, lost %d, duplicated %d; reloads refused: milter %d, "
                   "trackd %d; links sealed with %s until the reload, %s after (%s); both "
                   "answered; mode after rotate %04o"
                   % (mode, figures["sent"], figures["tracked"], CLIENTS, figures["seconds"],
                      figures["accepted_first_try"], figures["accepted_after_retry"],
                      figures["replies_4xx"], figures["replies_5xx"], figures["delivered"],
                      figures["signed"], figures["lost"], figures["duplicated"], refused_m,
                      refused_t, old_kid, new_kid, dict(sealed), mode_after_rotate))
        outpostlab.record_figure("secret_unreadable_under_load", summary)
        for k, v in log_lines.items():
            print("%s: %s" % (k, v[0] if v else None))

        # Last, as its own point: the refused reloads are counted where the
        # milter's other failures are (`outpostctl stats --milter`, from the
        # snapshot the milter writes every 10 s).
        def snapshot():
            r = op.ctl("stats", "--milter", "--json", check=False)
            return json.loads(r.stdout) if r.returncode == 0 else {}

        def reload_errors():
            return snapshot().get("reload_errors")
        try:
            lab.wait_until(lambda: (reload_errors() or 0) >= 2, 25, 0.5,
                           "reload_errors in `outpostctl stats --milter --json`")
        except TimeoutError:
            pass
        shown = {k: v for k, v in snapshot().items() if k != "buckets"}
        self.assertEqual(shown.get("reload_errors"), 2, "no count of refused reloads in "
                         "`outpostctl stats --milter --json`: %s" % shown)
        self.assertIn("reloads refused: 2", op.ctl("stats", "--milter").stdout)


if __name__ == "__main__":
    unittest.main()
