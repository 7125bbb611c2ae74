"""The bounce loop end to end, through a real Postfix.

A domain whose MAIL FROM subdomain verified sends with a VERP envelope
sender.  The sink refuses one recipient with 550 5.1.1, so Postfix itself
writes the DSN (RFC 3464) to that VERP address; a transport map sends it to
the pipe of contrib/postfix/master.cf.fragment, `outpostctl ingest dsn`
suppresses the recipient and counts the bounce, and the next message to that
recipient is refused with ALL_RECIPIENTS_SUPPRESSED.  Enough hard bounces on
another domain (health.min_volume small here) suspend it: DOMAIN_SUSPENDED,
`outpostctl events` says why, `outpostctl domain reinstate` lets mail flow.
"""

import os
import re
import unittest

import lab
from outpostlab import OutpostCase, message, new_token

DOMAIN = "news.test"
HEALTH = "risky.test"
GONE = "gone"  # local parts the sink refuses with 550 5.1.1


def sink_reply(address):
    if address.split("@")[0].startswith(GONE):
        return "550 5.1.1 <%s>: Recipient address rejected: User unknown in local recipient table" % address
    return None


class BounceLoopTest(OutpostCase):
    CONFIG = {"health": {"min_volume": 3, "window_days": 7}}
    POSTFIX_MASTER = (
        "outpost-bounce unix - n n - 4 pipe",
        "  flags=R user=nobody argv={outpostctl} --config {config} ingest dsn"
        " --recipient ${{recipient}}",
    )

    @classmethod
    def setUpOutpost(cls, op):
        op.sink.rcpt_reply = sink_reply
        # Bounces to VERP addresses of MAIL FROM subdomains go to the pipe
        # (README: a regexp transport map on the relay).
        table = os.path.join(op.postfix.config_dir, "outpost_transport")
        with open(table, "w") as f:
            f.write("/@bounce\\./  outpost-bounce:\n")
        op.postfix.postconf({"transport_maps": "regexp:" + table})
        for d in (DOMAIN, HEALTH):
            info = op.add_domain(d)
            checks = {c["name"]: c["status"] for c in info["checks"]}
            assert checks.get("mailfrom") == "ok", info["checks"]
        op.add_key("app", sasl="app-login")
        # The pipe runs as nobody (Postfix refuses root).
        op.give_store_to("nobody")

    def send(self, domain, rcpt):
        token, data = message("News <news@%s>" % domain, to=rcpt)
        return token, self.op.send("app@%s" % domain, [rcpt], data, login="app-login")

    def suppressed(self, domain):
        return [e["address"] for e in self.op.ctl_json("suppression", "list", domain, "--json")]

    def wait_suppressed(self, domain, address, timeout=30.0):
        try:
            lab.wait_until(lambda: address in self.suppressed(domain), timeout, 0.2,
                           "suppression of %s" % address)
        except TimeoutError as exc:
            raise AssertionError("%s\nmaillog:\n%s" % (exc, self.op.postfix.log()[-4000:])) from None

    def test_hard_bounce_suppresses_and_the_next_message_is_refused(self):
        ok_token, r = self.send(DOMAIN, "reader@example.net")
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(ok_token)
        self.assertSigned(m, DOMAIN)
        # The envelope sender is the VERP address on the MAIL FROM subdomain;
        # it names nobody in clear.
        self.assertRegex(m.mail_from, r"^bounces\+2[A-Za-z0-9]+\.[A-Za-z0-9_-]+@bounce\.%s$"
                         % re.escape(DOMAIN))
        self.assertNotIn("reader", m.mail_from)
        self.assertNotIn("app@", m.mail_from)

        rcpt = GONE + "-one@example.net"
        _, r = self.send(DOMAIN, rcpt)
        self.assertAccepted(r)  # Postfix takes it, the next hop refuses it
        self.wait_suppressed(DOMAIN, rcpt)
        entry = [e for e in self.op.ctl_json("suppression", "list", DOMAIN, "--json")
                 if e["address"] == rcpt][0]
        self.assertEqual(entry["reason"], "bounce")
        self.assertIn("5.1.1", entry.get("detail", ""))
        # The DSN went to the pipe, not back out.
        self.assertRegex(self.op.postfix.log(), r"status=sent \(delivered via outpost-bounce")
        stats = self.op.ctl_json("stats", DOMAIN, "--json")["totals"]
        self.assertEqual(stats.get("bounce.hard"), 1, stats)
        self.assertEqual(stats.get("suppressed.bounce"), 1, stats)

        _, r = self.send(DOMAIN, rcpt)
        self.assertReply(r, 550, "5.7.1", "ALL_RECIPIENTS_SUPPRESSED")
        self.assertIn(rcpt, self.suppressed(DOMAIN))

    def test_bounce_rate_suspends_and_reinstate_restores(self):
        # min_volume 3: three recipients, three hard bounces (100 % > 10 %).
        for i in range(3):
            _, r = self.send(HEALTH, "%s-%d@example.net" % (GONE, i))
            self.assertAccepted(r)
        for i in range(3):
            self.wait_suppressed(HEALTH, "%s-%d@example.net" % (GONE, i))
        lab.wait_until(lambda: self.op.domain(HEALTH)["status"] == "suspended", 30, 0.2,
                       "suspension of %s" % HEALTH)
        token, r = self.send(HEALTH, "reader@example.net")
        self.assertReply(r, 550, "5.7.1", "DOMAIN_SUSPENDED")
        self.assertIn("bounce rate", r.text)
        events = self.op.ctl("events", HEALTH).stdout
        self.assertRegex(events, r"domain\.suspended.*bounce rate")
        shown = self.op.ctl("domain", "show", HEALTH).stdout
        self.assertIn("bounce", shown)

        self.op.ctl("domain", "reinstate", HEALTH)
        self.assertEqual(self.op.domain(HEALTH)["status"], "verified")
        self.assertRegex(self.op.ctl("events", HEALTH).stdout, r"domain\.reinstated")
        token, r = self.send(HEALTH, "reader@example.net")
        self.assertAccepted(r)
        self.op.wait_delivered(token)


if __name__ == "__main__":
    unittest.main()
