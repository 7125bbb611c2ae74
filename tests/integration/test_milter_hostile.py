"""Hostile From headers through a real Postfix and outpost-milter.

The rule every case checks: outpost never delivers a message signed for a
domain its From does not plainly belong to.  Concretely, a message is either
refused (and never delivered), or delivered with exactly one From header
holding exactly one address at the owned domain, as read by Python's email
parser (which, like many receivers, also breaks header lines at a bare CR),
and every DKIM signature verifies.  Most cases also have an exact expected
reply.  What Postfix itself did to each input is printed at the end of the
class (run with -v) so it can be recorded.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build-itest /usr/bin/python3 -m unittest -v test_milter_hostile
"""

import base64
import email
import email.policy
import email.utils
import sys
import unittest

from outpostlab import OutpostCase, new_token

OWNED = "owned.outpost-hostile.test"
EVIL = "evil.example"
IDN_U = "b\u00fccher-outpost.test"
IDN_A = IDN_U.encode("idna").decode()


def build(from_lines, token, extra=b""):
    """CRLF message with raw From line(s) (bytes, without line end)."""
    head = b""
    for line in from_lines:
        head += line + b"\r\n"
    head += (b"To: rcpt@example.net\r\n"
             b"Subject: hostile [" + token.encode() + b"]\r\n"
             b"Date: " + email.utils.formatdate(usegmt=True).encode() + b"\r\n"
             b"Message-ID: <" + token.encode() + b"@client.outpost.test>\r\n" + extra)
    return head + b"\r\nbody of " + token.encode() + b"\r\n"


class HostileFromTest(OutpostCase):
    observed = []

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(OWNED, tenant="acme")
        op.add_domain(IDN_U, tenant="acme")
        op.add_key("app", tenant="acme", sasl="app")

    @classmethod
    def tearDownClass(cls):
        if cls.observed:
            sys.stderr.write("\n--- what Postfix and outpost did with hostile From headers ---\n")
            for line in cls.observed:
                sys.stderr.write(line + "\n")
        super().tearDownClass()

    def submit(self, from_lines, extra=b""):
        token = new_token("hostile")
        data = build(from_lines, token, extra)
        r = self.op.send("bounce@%s" % OWNED, ["rcpt@example.net"], data, login="app",
                         addr="192.0.2.100")
        return token, r

    def check_invariant(self, token, r, label):
        """Refused and not delivered, or delivered plainly from OWNED and signed."""
        if not r.ok:
            self.assertIn(r.code // 100, (4, 5), str(r))
            self.op.postfix.wait_queue_empty(20)
            self.assertNotDelivered(token)
            self.observed.append("%-34s refused: %s" % (label, r.reply.replace("\n", " | ")))
            return None
        [m] = self.op.wait_delivered(token)
        head = m.data.split(b"\r\n\r\n", 1)[0]
        froms = [l for l in head.split(b"\r\n") if l[:5].lower() == b"from:"]
        self.observed.append("%-34s delivered; From line(s) as delivered: %r" % (label, froms))
        parsed = email.message_from_bytes(m.data, policy=email.policy.compat32)
        # compat32 keeps raw 8-bit octets as surrogates: back to UTF-8 text.
        values = [v.encode("ascii", "surrogateescape").decode("utf-8", "replace")
                  for k, v in parsed.raw_items() if k.lower() == "from"]
        self.assertEqual(len(values), 1, "delivered with From headers %r" % values)
        addrs = email.utils.getaddresses(values)
        self.assertEqual(len(addrs), 1, "delivered From holds %r" % addrs)
        domain = addrs[0][1].rpartition("@")[2].lower().rstrip(".")
        self.assertIn(domain, (OWNED, IDN_A, IDN_U),
                      "delivered for From %r (signed: %r)" % (values, [
                          (x.domain, x.ok) for x in self.dkim(m)]))
        results = self.dkim(m)
        self.assertTrue(results and all(x.ok for x in results),
                        "delivered without a valid signature: %r" % results)
        return m

    def expect_refused(self, from_lines, code, enhanced, word, label, extra=b""):
        token, r = self.submit(from_lines, extra)
        self.check_invariant(token, r, label)
        self.assertReply(r, code, enhanced, word)

    # --- several From headers or addresses --------------------------------
    def test_two_from_headers(self):
        self.expect_refused([b"From: <a@" + OWNED.encode() + b">",
                             b"From: <b@" + EVIL.encode() + b">"],
                            550, "5.7.1", "FROM_INVALID", "two From (owned, evil)")

    def test_two_from_headers_same_domain(self):
        self.expect_refused([b"From: a@" + OWNED.encode(), b"From: b@" + OWNED.encode()],
                            550, "5.7.1", "FROM_INVALID", "two From (owned, owned)")

    def test_two_addresses_in_one_from(self):
        self.expect_refused([b"From: a@" + OWNED.encode() + b", b@" + EVIL.encode()],
                            550, "5.7.1", "FROM_INVALID", "two addresses in one From")

    def test_group_syntax(self):
        self.expect_refused([b"From: friends: a@" + OWNED.encode() + b";"],
                            550, "5.7.1", "FROM_INVALID", "group syntax")

    # --- display names, comments, quoted strings --------------------------
    def test_address_in_display_name_bank(self):
        self.expect_refused([b'From: "ceo@bank.example" <x@' + EVIL.encode() + b">"],
                            550, "5.7.1", "DOMAIN_NOT_FOUND", '"ceo@bank.example" <x@evil>')

    def test_owned_address_in_display_name(self):
        self.expect_refused([b'From: "ceo@' + OWNED.encode() + b'" <x@' + EVIL.encode() + b">"],
                            550, "5.7.1", "DOMAIN_NOT_FOUND", '"ceo@owned" <x@evil>')

    def test_owned_address_in_comment(self):
        self.expect_refused([b"From: x@" + EVIL.encode() + b" (ceo@" + OWNED.encode() + b")"],
                            550, "5.7.1", "DOMAIN_NOT_FOUND", "x@evil (ceo@owned)")

    def test_quoted_local_part_with_at(self):
        self.expect_refused([b'From: <"ceo@' + OWNED.encode() + b'"@' + EVIL.encode() + b">"],
                            550, "5.7.1", "DOMAIN_NOT_FOUND", '<"ceo@owned"@evil>')

    def test_evil_address_in_display_name_is_fine(self):
        # The address is ours; the display name is just text.
        token, r = self.submit([b'From: "x@' + EVIL.encode() + b'" <ceo@' + OWNED.encode()
                                + b">"])
        self.assertAccepted(r)
        m = self.check_invariant(token, r, '"x@evil" <ceo@owned>')
        self.assertSigned(m, OWNED)

    # --- encoded words ----------------------------------------------------
    def test_encoded_word_as_domain(self):
        ew = b"=?utf-8?q?" + OWNED.encode().replace(b".", b"=2E") + b"?="
        self.expect_refused([b"From: <x@" + ew + b">"], 550, "5.7.1", "FROM_INVALID",
                            "encoded-word domain")

    def test_encoded_word_display_name_hiding_address(self):
        ew = b"=?utf-8?b?" + base64.b64encode(b"ceo@" + OWNED.encode()) + b"?="
        self.expect_refused([b"From: " + ew + b" <x@" + EVIL.encode() + b">"],
                            550, "5.7.1", "DOMAIN_NOT_FOUND", "encoded-word name, evil addr")

    def test_encoded_word_display_name_is_fine(self):
        ew = b"=?utf-8?q?J=C3=BCrgen_M=C3=BCller?="
        token, r = self.submit([b"From: " + ew + b" <juergen@" + OWNED.encode() + b">"])
        self.assertAccepted(r)
        m = self.check_invariant(token, r, "encoded-word name, owned addr")
        self.assertSigned(m, OWNED)

    # --- normalization ----------------------------------------------------
    def test_upper_case_domain_normalized(self):
        token, r = self.submit([b"From: Boss <Boss@" + OWNED.upper().encode() + b">"])
        self.assertAccepted(r)
        m = self.check_invariant(token, r, "upper-case domain")
        self.assertSigned(m, OWNED)

    def test_idn_u_label_normalized(self):
        token, r = self.submit([("From: <info@%s>" % IDN_U).encode("utf-8")])
        self.assertAccepted(r)
        m = self.check_invariant(token, r, "IDN U-label domain")
        self.assertSigned(m, IDN_A)

    # --- no domain --------------------------------------------------------
    def test_from_without_domain(self):
        self.expect_refused([b"From: ceo"], 550, "5.7.1", "FROM_INVALID", "From: ceo")

    def test_from_angle_without_domain(self):
        self.expect_refused([b"From: Ceo <ceo>"], 550, "5.7.1", "FROM_INVALID", "From: <ceo>")

    def test_from_empty_domain(self):
        self.expect_refused([b"From: ceo@"], 550, "5.7.1", "FROM_INVALID", "From: ceo@")

    def test_empty_from(self):
        self.expect_refused([b"From: "], 550, "5.7.1", "FROM_INVALID", "empty From")

    # --- long From --------------------------------------------------------
    def test_long_folded_display_name_owned(self):
        # Folded over 13 lines, 950 octets in all: legal, and ours.
        name = b" ".join([b"Name%03d" % i for i in range(115)])
        folded = b"\r\n ".join(name[i:i + 70] for i in range(0, len(name), 70))
        line = b'From: "' + folded + b'"\r\n <x@' + OWNED.encode() + b">"
        self.assertGreater(len(line), 900)
        token, r = self.submit([line])
        self.assertAccepted(r)
        m = self.check_invariant(token, r, "950-octet folded From, owned")
        self.assertSigned(m, OWNED)

    def test_very_long_folded_display_name_owned(self):
        # 3 KB folded: RFC 5322 limits lines, not fields, so this is legal;
        # outpost may sign it or refuse it as FROM_INVALID, nothing else.
        name = b" ".join([b"Name%03d" % i for i in range(400)])
        folded = b"\r\n ".join(name[i:i + 70] for i in range(0, len(name), 70))
        token, r = self.submit([b'From: "' + folded + b'"\r\n <x@' + OWNED.encode() + b">"])
        m = self.check_invariant(token, r, "3 KB folded From, owned")
        if m is None:
            self.assertReply(r, 550, "5.7.1", "FROM_INVALID")
        else:
            self.assertSigned(m, OWNED)

    def test_very_long_folded_display_name_evil(self):
        name = b" ".join([b"ceo@%s" % OWNED.encode() for _ in range(100)])
        folded = b"\r\n ".join(name[i:i + 70] for i in range(0, len(name), 70))
        token, r = self.submit([b'From: "' + folded + b'"\r\n <x@' + EVIL.encode() + b">"])
        self.check_invariant(token, r, "3 KB folded From, evil")
        self.assertFalse(r.ok, str(r))
        self.assertEqual((r.code, r.text[:6]), (550, "5.7.1 "), str(r))
        self.assertRegex(r.text, r"^5\.7\.1 (FROM_INVALID|DOMAIN_NOT_FOUND)\b")

    def test_long_unfolded_line(self):
        # 5000 octets on one line: past Postfix's line_length_limit (2048).
        token, r = self.submit([b'From: "' + b"a" * 5000 + b'" <x@' + OWNED.encode() + b">"])
        self.check_invariant(token, r, "5000-octet From line, owned")

    def test_long_unfolded_line_evil_after_limit(self):
        # The owned address inside the first 2048 octets, the real one after.
        token, r = self.submit([b'From: "<x@' + OWNED.encode() + b">" + b"a" * 3000
                                + b'" <x@' + EVIL.encode() + b">"])
        self.check_invariant(token, r, "5 KB From line, evil at the end")
        self.assertFalse(r.ok, "accepted a From whose address is at %s: %s" % (EVIL, r))

    # --- NUL and bare CR --------------------------------------------------
    def test_nul_in_from(self):
        token, r = self.submit([b"From: <x@" + OWNED.encode() + b">\x00<y@" + EVIL.encode()
                                + b">"])
        self.check_invariant(token, r, "NUL inside From")

    def test_nul_hides_evil_domain(self):
        token, r = self.submit([b"From: <y@" + EVIL.encode() + b"\x00" + OWNED.encode() + b">"])
        self.check_invariant(token, r, "NUL inside From domain")
        self.assertFalse(r.ok, str(r))

    def test_nul_in_other_header(self):
        token, r = self.submit([b"From: <x@" + OWNED.encode() + b">"],
                               extra=b"X-Note: before\x00after\r\n")
        self.check_invariant(token, r, "NUL in X-Note")

    def test_bare_cr_second_from(self):
        token, r = self.submit([b"From: <x@" + OWNED.encode() + b">\rFrom: <y@" + EVIL.encode()
                                + b">"])
        self.check_invariant(token, r, "bare CR + From inside From")

    def test_bare_cr_from_smuggled_in_subject(self):
        token, r = self.submit([b"From: <x@" + OWNED.encode() + b">"],
                               extra=b"X-Note: hi\rFrom: <y@" + EVIL.encode() + b">\r\n")
        self.check_invariant(token, r, "bare CR + From inside X-Note")

    def test_bare_cr_inside_domain(self):
        token, r = self.submit([b"From: <x@" + EVIL.encode() + b"\r" + OWNED.encode() + b">"])
        self.check_invariant(token, r, "bare CR inside From domain")
        self.assertFalse(r.ok, str(r))


if __name__ == "__main__":
    unittest.main()
