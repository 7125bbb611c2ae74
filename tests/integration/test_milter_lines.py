"""Long lines through a real Postfix: what outpost signs, Postfix relays
unchanged.  Postfix splits lines over smtp_line_length_limit (998) after the
milter signed them, so a 1,500-octet body line or an unfolded 1,209-octet
Subject used to arrive with a broken signature; outpost refuses them with
550 5.6.0 LINE_TOO_LONG naming the line.  A line of exactly 998 octets is
delivered, and its signature verifies at the receiver (dkimpy).

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_milter_lines
"""

import unittest

from outpostlab import OutpostCase, message

DOMAIN = "lines.outpost-test.test"


class LongLinesTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.add_key("app", sasl="app")

    def submit(self, **kw):
        token, data = message("app@%s" % DOMAIN, **kw)
        r = self.op.send("bounce@%s" % DOMAIN, ["rcpt@example.net"], data, login="app",
                         addr="192.0.2.100")
        return token, r

    def test_a_998_octet_body_line_is_delivered_signed(self):
        token, r = self.submit(body="before\n" + "a" * 998 + "\nafter\n")
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertIn(b"\r\n" + b"a" * 998 + b"\r\n", m.data)   # not split
        self.assertSigned(m, DOMAIN)

    def test_a_1500_octet_body_line_is_refused(self):
        token, r = self.submit(body="before\n" + "b" * 1500 + "\nafter\n")
        self.assertReply(r, 550, "5.6.0", "LINE_TOO_LONG", stage="data")
        self.assertIn("line 2 of the body is 1500 octets", r.text)
        self.op.postfix.wait_queue_empty(20)
        self.assertNotDelivered(token)

    def test_an_unfolded_1209_octet_subject_is_refused(self):
        token, r = self.submit(subject="s" * 1185)   # "Subject: " + 1185 + " [token]"
        self.assertReply(r, 550, "5.6.0", "LINE_TOO_LONG", stage="data")
        self.assertRegex(r.text, r"header Subject is 12\d\d octets on one line")
        self.assertNotDelivered(token, settle=0.5)

    def test_the_same_subject_folded_is_delivered_signed(self):
        words = " ".join(["word%04d" % i for i in range(140)])   # 1,259 octets, folded below
        folded = "\r\n ".join(words[i:i + 700] for i in range(0, len(words), 700))
        token, r = self.submit(subject=folded)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, DOMAIN)


if __name__ == "__main__":
    unittest.main()
