"""outpost-milter inline in a real Postfix: every delivered message is
DKIM-signed, and dkimpy (an independent implementation) verifies it against
the loopback DNS server that serves the records outpostctl generated.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build-itest /usr/bin/python3 -m unittest -v test_milter_signing
"""

import base64
import json
import os
import subprocess
import unittest

import lab
import outpostlab
from outpostlab import OutpostCase, message

DOMAIN = "signed.outpost-sign.test"
BOTH = "both.outpost-sign.test"
ROT = "rotate.outpost-sign.test"
NOUNSUB = "nounsub.outpost-sign.test"
ESP = "esp.outpost-third.test"  # a third party that signed before us


class SigningTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(DOMAIN, tenant="acme")
        op.add_domain(BOTH, tenant="acme", algorithm="both")
        op.add_domain(ROT, tenant="acme")
        op.add_domain(NOUNSUB, tenant="acme")
        op.ctl("domain", "set", NOUNSUB, "--unsubscribe", "off")
        cls.secret = op.add_key("app", tenant="acme", sasl="app-login")
        cls.cidr_secret = op.add_key("net", tenant="acme", cidrs=["192.0.2.55/32"])

    def send_signed(self, data, token, domain=DOMAIN, rcpts=("rcpt@example.net",),
                    algorithms=("rsa-sha256",), others=(), **kw):
        r = self.op.send("bounce@%s" % domain, list(rcpts), data, **kw)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertEqual(sorted(m.rcpts), sorted(rcpts))
        sigs = self.assertSigned(m, domain, algorithms, others)
        return m, sigs

    # --- message shapes ---------------------------------------------------
    def test_plain_text_with_key_header(self):
        token, data = message("Alice <alice@%s>" % DOMAIN, key=self.secret,
                              body="Plain text.\nSecond line.\n")
        m, [sig] = self.send_signed(data, token)
        self.assertEqual(sig.tags.get("a"), "rsa-sha256")
        # One recipient: HTTPS one-click unsubscribe (RFC 8058), both signed.
        [lu] = m.headers("List-Unsubscribe")
        self.assertRegex(lu, r"<https://[^>\s]+>")
        self.assertEqual(m.headers("List-Unsubscribe-Post"), ["List-Unsubscribe=One-Click"])
        h = outpostlab.header_list(sig.tags)
        self.assertIn("list-unsubscribe", h)
        self.assertIn("list-unsubscribe-post", h)
        # The body arrives byte for byte as sent.
        self.assertTrue(m.data.endswith(data.split(b"\r\n\r\n", 1)[1]))

    def test_sasl_login_identifies(self):
        token, data = message("alice@%s" % DOMAIN)
        self.send_signed(data, token, login="app-login", addr="192.0.2.201")

    def test_client_network_identifies(self):
        token, data = message("alice@%s" % DOMAIN)
        self.send_signed(data, token, addr="192.0.2.55")

    def test_multipart_alternative(self):
        body = ("--b1\n"
                "Content-Type: text/plain; charset=utf-8\n\n"
                "Plain part.\n\n"
                "--b1\n"
                "Content-Type: text/html; charset=utf-8\n\n"
                "<html><body><p>HTML part, <a href=\"https://example.net/x\">link</a>.</p>"
                "</body></html>\n\n"
                "--b1--\n")
        token, data = message("alice@%s" % DOMAIN, key=self.secret, body=body,
                              content_type="MIME-Version: 1.0\r\n"
                                           "Content-Type: multipart/alternative; boundary=\"b1\"")
        m, _ = self.send_signed(data, token)
        self.assertEqual(m.email().get_content_type(), "multipart/alternative")

    def test_8bit_body(self):
        body = "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 \u65e5\u672c\u8a9e \U0001F600\n" * 20
        token, data = message("alice@%s" % DOMAIN, key=self.secret, body=body,
                              content_type="MIME-Version: 1.0\r\n"
                                           "Content-Type: text/plain; charset=utf-8\r\n"
                                           "Content-Transfer-Encoding: 8bit")
        m, _ = self.send_signed(data, token)
        self.assertIn(body.splitlines()[0].encode("utf-8"), m.data)

    def test_lines_near_998_octets(self):
        lines = ["x" * n for n in (990, 996, 997, 998)]
        lines.append(("y" * 600 + " ") * 1 + "z" * 397)   # 998 with a space inside
        lines.append("." + "d" * 997)                      # dot-stuffed on the wire
        lines.append("t" * 997 + " ")                      # trailing whitespace (relaxed body)
        token, data = message("alice@%s" % DOMAIN, key=self.secret,
                              body="\n".join(lines) + "\n")
        for line in lines:
            self.assertLessEqual(len(line), 998)
        m, _ = self.send_signed(data, token)
        for line in lines:
            self.assertIn(b"\r\n" + line.encode() + b"\r\n", m.data)

    def test_without_date_and_message_id(self):
        token, data = message("alice@%s" % DOMAIN, key=self.secret, date=False,
                              message_id=False)
        m, _ = self.send_signed(data, token)
        # Postfix was told not to add them for SMTP clients: signed as sent.
        self.assertEqual(m.headers("Date"), [])
        self.assertEqual(m.headers("Message-ID"), [])

    def test_existing_dkim_signature_kept(self):
        import dkim
        tmp = lab.tmpdir(self)
        key = tmp + "/esp.pem"
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", key, "1024"],
                       check=True, capture_output=True, timeout=60)
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True, timeout=60).stdout
        self.op.dns.add_zone(ESP)
        self.op.dns.add("esp1._domainkey." + ESP, "TXT",
                        "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())
        self.op.dns.apply()
        with open(key, "rb") as f:
            private = f.read()
        token, data = message("alice@%s" % DOMAIN)
        sig = dkim.sign(data, b"esp1", ESP.encode(), private,
                        canonicalize=(b"relaxed", b"relaxed"),
                        include_headers=[b"From", b"To", b"Subject", b"Date", b"Message-ID"])
        # The key header goes in after the third party signed (it is not in its h=).
        head, body = (sig + data).split(b"\r\n\r\n", 1)
        data = head + b"\r\nX-Outpost-Key: " + self.secret.encode() + b"\r\n\r\n" + body
        m, _ = self.send_signed(data, token, others=(ESP,))
        self.assertEqual(len(m.headers("DKIM-Signature")), 2)

    def test_sendmail_command(self):
        # postdrop -> pickup -> cleanup: the non_smtpd_milters path.  No Date
        # or Message-ID: Postfix adds them for local submissions, before the
        # milter sees the message.
        token, data = message("alice@%s" % DOMAIN, key=self.secret, date=False,
                              message_id=False)
        cp = self.op.postfix.sendmail("bounce@%s" % DOMAIN, ["local-rcpt@example.net"],
                                      data.replace(b"\r\n", b"\n"))
        self.assertEqual(cp.returncode, 0, cp.stderr)
        [m] = self.op.wait_delivered(token)
        self.assertEqual(m.rcpts, ["local-rcpt@example.net"])
        self.assertSigned(m, DOMAIN)
        self.assertEqual(len(m.headers("Date")), 1)
        self.assertEqual(len(m.headers("Message-ID")), 1)
        self.assertRegex(self.op.postfix.log(), r"pickup\[\d+\]: \w+: uid=\d+ from=<bounce@%s>"
                         % DOMAIN.replace(".", r"\."))

    def test_ed25519_and_rsa(self):
        token, data = message("alice@%s" % BOTH, key=self.secret)
        m, sigs = self.send_signed(data, token, domain=BOTH,
                                   algorithms=("ed25519-sha256", "rsa-sha256"))
        self.assertEqual(len({s.selector for s in sigs}), 2, sigs)

    # --- headers outpost adds or removes ----------------------------------
    def test_message_verify_reports_each_signature(self):
        # outpostctl message verify: libopendkim over the delivered message,
        # keys from the lab's DNS (dns.upstream), one line per signature.
        token, data = message("Alice <alice@%s>" % BOTH, key=self.secret, body="Checked twice.\n")
        m, sigs = self.send_signed(data, token, domain=BOTH, algorithms=("ed25519-sha256", "rsa-sha256"))
        path = os.path.join(self.op.dir, "delivered.eml")
        with open(path, "wb") as f:
            f.write(m.data)
        r = self.op.ctl("message", "verify", path, check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = sorted(r.stdout.splitlines(), key=lambda x: "ed25519" not in x)
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertRegex(lines[0], r"^dkim=pass d=%s s=\S+ a=ed25519-sha256$" % BOTH.replace(".", r"\."))
        self.assertRegex(lines[1], r"^dkim=pass d=%s s=\S+ a=rsa-sha256 bits=2048$" % BOTH.replace(".", r"\."))
        # From standard input, as JSON.
        j = subprocess.run([outpostlab.outpostctl_path(), "--config", self.op.config_path, "message", "verify",
                            "-", "--json"], input=m.data, capture_output=True, timeout=60)
        self.assertEqual(j.returncode, 0, j.stderr)
        self.assertEqual(sorted(x["result"] for x in json.loads(j.stdout)), ["pass", "pass"])
        # A body changed after delivery: both fail, exit 7, and the reason says so.
        with open(path, "wb") as f:
            f.write(m.data.replace(b"Checked twice.", b"Checked thrice."))
        r = self.op.ctl("message", "verify", path, check=False)
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertEqual(r.stdout.count("dkim=fail"), 2, r.stdout)
        self.assertIn("body hash", r.stdout)
        # No signature at all: exit 7, said plainly.
        with open(path, "wb") as f:
            f.write(b"From: a@example.net\r\nSubject: x\r\n\r\nbody\r\n")
        r = self.op.ctl("message", "verify", path, check=False)
        self.assertEqual(r.returncode, 7)
        self.assertIn("dkim=none", r.stdout)
        # A file that is not there: not found (2), named.
        r = self.op.ctl("message", "verify", os.path.join(self.op.dir, "missing.eml"), check=False)
        self.assertEqual(r.returncode, 2)
        self.assertIn("missing.eml", r.stderr)

    def test_several_recipients_get_mailto_unsubscribe(self):
        token, data = message("alice@%s" % DOMAIN, key=self.secret)
        m, [sig] = self.send_signed(data, token, rcpts=("one@example.net", "two@example.org"))
        [lu] = m.headers("List-Unsubscribe")
        self.assertRegex(lu, r"<mailto:[^>\s]+>")
        self.assertNotRegex(lu, r"https?://", "per-recipient URL with two recipients: " + lu)
        self.assertEqual(m.headers("List-Unsubscribe-Post"), [])
        self.assertIn("list-unsubscribe", outpostlab.header_list(sig.tags))

    def test_existing_list_unsubscribe_kept(self):
        mine = "<mailto:leave@%s?subject=unsub>, <https://%s/leave/42>" % (DOMAIN, DOMAIN)
        token, data = message("alice@%s" % DOMAIN, key=self.secret, headers=[
            ("List-Unsubscribe", mine),
            ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")])
        m, [sig] = self.send_signed(data, token)
        self.assertEqual(m.headers("List-Unsubscribe"), [mine])
        self.assertEqual(m.headers("List-Unsubscribe-Post"), ["List-Unsubscribe=One-Click"])
        h = outpostlab.header_list(sig.tags)
        self.assertIn("list-unsubscribe", h)
        self.assertIn("list-unsubscribe-post", h)

    def test_key_header_removed_even_when_invalid_but_sasl_identifies(self):
        # SASL wins; the (wrong) key header must still never be delivered.
        token, data = message("alice@%s" % DOMAIN, key="op_not-a-real-secret")
        self.send_signed(data, token, login="app-login", addr="192.0.2.202")

    def test_key_header_variants_all_removed(self):
        # Lower-case name, folded value, and a second (wrong) copy: whatever
        # outpost decides, no X-Outpost-Key header may reach the recipient.
        token, data = message("alice@%s" % DOMAIN, headers=[
            ("x-outpost-key", "\r\n " + self.secret),
            ("X-OUTPOST-KEY", "op_wrong-secret-000000000000000000000000000")])
        r = self.op.send("bounce@%s" % DOMAIN, ["rcpt@example.net"], data, addr="192.0.2.203")
        if r.ok:
            [m] = self.op.wait_delivered(token)
            self.assertSigned(m, DOMAIN)
        else:
            self.assertReply(r, 550, "5.7.1", "AUTH_REQUIRED")
            self.assertNotDelivered(token)

    def test_large_message_streamed(self):
        # ~3 MB of base64: signed over the whole body (no l=), verifies.
        import os
        blob = base64.encodebytes(os.urandom(2250000)).decode()
        body = ("--b2\nContent-Type: text/plain\n\nsee attachment\n\n"
                "--b2\nContent-Type: application/octet-stream\n"
                "Content-Transfer-Encoding: base64\n\n" + blob + "\n--b2--\n")
        token, data = message("alice@%s" % DOMAIN, key=self.secret, body=body,
                              content_type="MIME-Version: 1.0\r\n"
                                           "Content-Type: multipart/mixed; boundary=\"b2\"")
        self.assertGreater(len(data), 3000000)
        m, _ = self.send_signed(data, token)
        self.assertIn(blob.splitlines()[-1].encode(), m.data)

    def test_empty_body_and_trailing_blank_lines(self):
        for body in (b"", b"\r\n\r\n\r\n", b"text   \r\n\t\r\n \r\n\r\n"):
            token, data = message("alice@%s" % DOMAIN, key=self.secret)
            data = data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
            r = self.op.send("bounce@%s" % DOMAIN, ["rcpt@example.net"], data)
            self.assertAccepted(r)
            [m] = self.op.wait_delivered(token)
            self.assertSigned(m, DOMAIN)

    def test_dkim_rotation(self):
        # The new selector is pending until its TXT verifies: the running
        # milter keeps signing with the old one, then switches (no restart).
        d = self.op.domain(ROT)
        [old] = [s["name"] for s in d["selectors"] if s["state"] == "active"]
        self.op.ctl("domain", "dkim", "rotate", ROT)
        [new] = [s["name"] for s in self.op.domain(ROT)["selectors"] if s["state"] == "pending"]
        self.assertNotEqual(old, new)
        token, data = message("alice@%s" % ROT, key=self.secret)
        _, [sig] = self.send_signed(data, token, domain=ROT)
        self.assertEqual(sig.selector, old)
        self.op.publish(ROT)
        self.op.verify(ROT)
        states = {s["name"]: s["state"] for s in self.op.domain(ROT)["selectors"]}
        self.assertEqual(states[new], "active", states)
        token, data = message("alice@%s" % ROT, key=self.secret)
        _, sigs = self.send_signed(data, token, domain=ROT)
        self.assertEqual([s.selector for s in sigs], [new])

    def test_unsubscribe_off(self):
        token, data = message("alice@%s" % NOUNSUB, key=self.secret)
        m, [sig] = self.send_signed(data, token, domain=NOUNSUB)
        self.assertEqual(m.headers("List-Unsubscribe"), [])
        self.assertEqual(m.headers("List-Unsubscribe-Post"), [])

    def test_batch_all_signed(self):
        tokens = []
        for i in range(10):
            token, data = message("alice@%s" % (DOMAIN if i % 2 else BOTH), key=self.secret,
                                  body="message %d\n" % i)
            r = self.op.send("bounce@outpost.test", ["r%d@example.net" % i], data)
            self.assertAccepted(r)
            tokens.append((token, DOMAIN if i % 2 else BOTH))
        for token, domain in tokens:
            [m] = self.op.wait_delivered(token)
            self.assertSigned(m, domain, ("rsa-sha256",) if domain == DOMAIN
                              else ("ed25519-sha256", "rsa-sha256"))


if __name__ == "__main__":
    unittest.main()
