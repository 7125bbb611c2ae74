"""outpost-milter inline in a real Sendmail 8.17 (issue 9, item 8).

Sendmail is unpacked privately from Debian's packages (sendmaillab.py: it
conflicts with Postfix), its sendmail.cf built by m4 with
contrib/sendmail/outpost.mc, and run as ``sendmail -bD`` on loopback,
relaying through its esmtp mailer (L=990) to the capture sink.  The test
shows:

* SMTP mail identified by its X-Outpost-Key header or by its client network
  is signed and passes dkimpy, with the macros Sendmail sends (the queue id
  ``i`` and the client address) in the milter's log line; a refusal
  reaches the SMTP client with outpost's reply (SASL is not set up: Sendmail
  would need a sasldb and saslpasswd2, which the lab does not have;
  ``{auth_authen}`` is covered through Postfix's XCLIENT in the Postfix
  tests, and Mail::DKIM is not installed in the lab).
* The three things Sendmail does differently from Postfix, each handled:
  command-line mail (signed through the MSP, refused on the main
  configuration instead of leaking its key), the address headers Sendmail
  re-writes after signing (``To: a@x,Other <b@x>``, ``Cc: bob``), and the
  990-octet line limit (a long List-Unsubscribe).
"""

import re
import time
import unittest

import lab
from outpostlab import message
from sendmaillab import SendmailCase

DOMAIN = "shop.test"
FROM = "Shop <news@%s>" % DOMAIN
SENDER = "news@%s" % DOMAIN


def queue_id(result):
    """Sendmail's queue id from its reply to DATA."""
    m = re.search(r"2\.0\.0 (\S+) Message accepted", result.text)
    return m.group(1) if m else None


class SendmailTest(SendmailCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        cls.key = op.add_key("app", allow=[DOMAIN])
        op.add_key("net", cidrs=["127.0.0.1/32"], allow=[DOMAIN])

    def log_line(self, qid, timeout=10):
        """The milter's decision line for Sendmail queue id ``qid``."""
        rx = re.compile(r"%s: decision=\S+.*" % re.escape(qid))
        try:
            return lab.wait_until(lambda: rx.search(self.op.milter_log_text()), timeout, 0.05,
                                  "milter log line for %s" % qid).group(0)
        except TimeoutError as exc:
            raise AssertionError("%s\n%s" % (exc, self.op.diagnostics())) from None

    def lines_of(self, msg):
        head = msg.data.split(b"\r\n\r\n", 1)[0]
        return head.split(b"\r\n")

    # --- (a) SMTP mail is signed, with Sendmail's macros --------------------
    def test_key_header_mail_is_signed(self):
        token, data = message(FROM, key=self.key)
        r = self.op.send(SENDER, ["rcpt@example.net"], data)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, DOMAIN)
        qid = queue_id(r)
        self.assertTrue(qid, r)
        # i (the queue id) and the client address reached the milter.
        line = self.log_line(qid)
        self.assertRegex(line, r"decision=accept domain=%s key=app identity=header client=127\.0\.0\.1 "
                               r"rcpts=1 signed=\S+" % re.escape(DOMAIN))
        self.assertIn(qid.encode(), m.data.split(b"\r\n\r\n", 1)[0])  # Sendmail's Received line

    def test_network_identified_mail_is_signed(self):
        token, data = message(FROM)
        r = self.op.send(SENDER, ["rcpt@example.net"], data)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, DOMAIN)
        self.assertRegex(self.log_line(queue_id(r)), r"key=net identity=cidr client=127\.0\.0\.1")

    # --- (b) a refusal, as the SMTP client sees it -------------------------
    def test_unknown_domain_is_refused_with_outpost_reply(self):
        token, data = message("Other <a@unknown.test>", key=self.key)
        r = self.op.send("a@unknown.test", ["rcpt@example.net"], data)
        self.assertReply(r, 550, "5.7.1", "DOMAIN_NOT_FOUND")
        self.assertIn("unknown.test is not a sending domain", r.text)
        self.assertEqual(r.stage, "data")
        time.sleep(0.5)
        self.assertNotDelivered(token)

    # --- (c1) command-line mail --------------------------------------------
    def test_command_line_mail_through_the_msp_is_signed(self):
        token, data = message(FROM, key=self.key)
        p = self.op.sendmail.submit(["-t", "-i", "-f", SENDER], data, config="msp")
        self.assertEqual(p.returncode, 0, p.stderr.decode("utf-8", "replace"))
        [m] = self.op.wait_delivered(token, timeout=30)
        self.assertSigned(m, DOMAIN)  # and X-Outpost-Key is gone
        self.assertRegex(self.op.milter_log_text(),
                         r"decision=accept domain=%s key=app identity=header client=127\.0\.0\.1"
                         % re.escape(DOMAIN))

    def test_command_line_mail_on_the_main_configuration_is_refused(self):
        # Sendmail never calls a milter for command-line mail on sendmail.cf
        # (-Am, -C /etc/mail/sendmail.cf): outpost.mc's header check refuses
        # it rather than let it leave unsigned with the key in it.
        token, data = message(FROM, key=self.key)
        p = self.op.sendmail.submit(["-t", "-i", "-oep", "-f", SENDER], data, config="main")
        out = (p.stdout + p.stderr).decode("utf-8", "replace")
        self.assertIn("OUTPOST_NOT_CALLED", out)
        self.assertNotEqual(p.returncode, 0, out)
        time.sleep(2)
        # Never delivered to its recipient. (Sendmail returns it to the
        # sender in a DSN, with the message: the key goes back to its owner.)
        self.assertEqual([m for m in self.op.delivered(token) if "rcpt@example.net" in m.rcpts], [],
                         "delivered: %s" % out)

    # --- (c2) address headers Sendmail re-writes ---------------------------
    def test_rewritten_address_headers_still_verify(self):
        token, data = message("J. Doe <%s>" % SENDER, to="a@x.test,Other <b@x.test>", key=self.key,
                              headers=[("Cc", "c@x.test ,O'Brien <d@x.test>")])
        r = self.op.send(SENDER, ["a@x.test", "b@x.test"], data)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, DOMAIN)
        self.assertEqual(m.headers("To"), ["a@x.test, Other <b@x.test>"])
        self.assertEqual(m.headers("Cc"), ['c@x.test, "O\'Brien" <d@x.test>'])
        self.assertEqual(m.headers("From"), ['"J. Doe" <%s>' % SENDER])

    def test_unqualified_address_is_refused(self):
        token, data = message(FROM, key=self.key, headers=[("Cc", "bob")])
        r = self.op.send(SENDER, ["rcpt@example.net"], data)
        self.assertReply(r, 550, "5.7.1", "UNQUALIFIED_ADDRESS")
        self.assertIn('Cc: "bob" has no domain', r.text)
        time.sleep(0.5)
        self.assertNotDelivered(token)

    # --- (c3) Sendmail's 990-octet lines -----------------------------------
    def test_list_unsubscribe_fits_sendmail_lines(self):
        # Long recipient addresses make the one-click URL (it carries the
        # address, sealed) long: every line outpost writes stays under 990
        # octets, so Sendmail's esmtp mailer (L=990) never folds one.
        for rcpt in ("rcpt@example.net",
                     "%s@%s.example.net" % ("r" * 60, ".".join(["h" * 40] * 3)),
                     "%s@%s.example.net" % ("r" * 64, ".".join(["h" * 50] * 3))):
            token, data = message(FROM, to=rcpt, key=self.key)
            r = self.op.send(SENDER, [rcpt], data)
            self.assertAccepted(r)
            [m] = self.op.wait_delivered(token)
            self.assertSigned(m, DOMAIN)
            for line in self.lines_of(m):
                self.assertLess(len(line), 990, line[:80])
            [lu] = m.headers("List-Unsubscribe")
            self.assertIn("<mailto:", lu)
            if len(rcpt) < 100:
                self.assertIn("<https://", lu)
                self.assertEqual(m.headers("List-Unsubscribe-Post"), ["List-Unsubscribe=One-Click"])


if __name__ == "__main__":
    unittest.main()
