"""Smoke tests for the loopback lab itself (lab.py): real unbound, Postfix,
the capture sink and dkimpy, and no outpost code.

Run: cd tests/integration && /usr/bin/python3 -m unittest -v test_lab
"""

import base64
import os
import subprocess
import time
import unittest

import lab


def _message(subject="lab smoke", body="Hello from the lab.\n.a line that starts with a dot\n"
             "..and one with two\n.\nthe line above is a lone dot\n"):
    """A complete message (Date and Message-ID included, so Postfix only
    prepends its Received header) with CRLF line endings."""
    return lab.crlf(
        "From: Sender <sender@example.test>\n"
        "To: rcpt@example.net\n"
        "Subject: %s\n"
        "Date: Sun, 22 Nov 2026 10:00:00 +0000\n"
        "Message-ID: <smoke-%d@example.test>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n%s" % (subject, time.monotonic_ns(), body))


class DnsServerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lab.tmpdir(self)
        self.dns = lab.DnsServer(self.tmp)
        self.addCleanup(self.dns.stop)

    def test_long_txt_cname_remove(self):
        value = "v=DKIM1; k=rsa; p=" + "".join(chr(ord("A") + i % 26) for i in range(382))
        self.assertEqual(len(value), 400)
        self.dns.add_zone("example.test").add_zone("relay.test")
        self.dns.add("sel._domainkey.example.test", "TXT", value)
        self.dns.add("track.example.test", "CNAME", "t.relay.test")
        self.dns.add("t.relay.test", "A", "192.0.2.80")
        self.dns.start()

        ans = self.dns.lookup("sel._domainkey.example.test", "TXT")
        self.assertEqual(ans.rcode, "NOERROR")
        self.assertEqual(len(ans.txt), 1)
        self.assertEqual([len(s) for s in ans.txt[0]], [255, 145])
        self.assertEqual(ans.values("TXT"), [value])

        raw = self.dns.lookup("track.example.test", "CNAME", follow_cname=False)
        self.assertEqual(raw.values("CNAME"), ["t.relay.test."])
        chased = self.dns.lookup("track.example.test", "A")
        self.assertEqual(chased.values("A"), ["192.0.2.80"])
        self.assertEqual(self.dns.lookup("other.example.test", "TXT").rcode, "NXDOMAIN")
        self.assertEqual(self.dns.lookup("example.com", "A").rcode, "REFUSED")
        with self.assertRaises(ValueError):
            self.dns.add("outside.example.org", "A", "192.0.2.1")

        self.assertEqual(self.dns.remove("sel._domainkey.example.test", "TXT"), 1)
        self.assertEqual(self.dns.remove("track.example.test"), 1)
        self.dns.apply()
        self.assertEqual(self.dns.lookup("sel._domainkey.example.test", "TXT").rcode, "NXDOMAIN")
        self.assertEqual(self.dns.lookup("track.example.test", "CNAME").rcode, "NXDOMAIN")
        self.assertEqual(self.dns.lookup("t.relay.test", "A").values("A"), ["192.0.2.80"])

    def test_unreachable_and_back(self):
        self.dns.add_zone("example.test").add("example.test", "TXT", "v=spf1 -all").start()
        with self.dns.unreachable():
            self.assertEqual(self.dns.lookup("example.test", "TXT", timeout=0.3).rcode, "TIMEOUT")
        self.assertEqual(self.dns.lookup("example.test", "TXT").values("TXT"), ["v=spf1 -all"])

    def test_thousand_domains(self):
        self.dns.start()
        for i in range(1000):
            d = "d%04d.test" % i
            self.dns.add_zone(d)
            self.dns.add("op1._domainkey." + d, "TXT", "v=DKIM1; k=rsa; p=" + "Q" * 392)
            self.dns.add(d, "TXT", "v=spf1 include:_spf.relay.test ~all")
            self.dns.add("_dmarc." + d, "TXT", "v=DMARC1; p=none")
        t0 = time.monotonic()
        self.dns.apply()
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(self.dns.lookup("_dmarc.d0999.test", "TXT").values("TXT"),
                         ["v=DMARC1; p=none"])
        self.assertEqual(len(self.dns.lookup("op1._domainkey.d0500.test", "TXT").txt[0]), 2)


class PostfixTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lab.tmpdir(self)
        self.sink = lab.Sink().start()
        self.addCleanup(self.sink.stop)

    def start_postfix(self, **kw):
        pf = lab.Postfix(self.tmp, self.sink.port, **kw)
        self.addCleanup(pf.stop)
        return pf.start()

    def test_smtp_relays_to_sink_intact(self):
        pf = self.start_postfix()
        original = _message(body="caf\u00e9 body\n.dot line\n..two dots\n")
        r = pf.send("sender@example.test", ["rcpt@example.net", "second@example.net"], original,
                    xclient={"ADDR": "192.0.2.7", "LOGIN": "alice"})
        self.assertTrue(r.ok, r)
        self.assertEqual(r.code, 250)
        self.assertTrue(r.queue_id)
        [m] = self.sink.wait_for(1, 15)
        self.assertEqual(m.mail_from, "sender@example.test")
        self.assertEqual(m.rcpts, ["rcpt@example.net", "second@example.net"])
        # Postfix prepends exactly one Received header; every other byte is ours.
        self.assertTrue(m.data.startswith(b"Received: "), m.data[:200])
        self.assertTrue(m.data.endswith(original), m.data)
        received = m.data[:-len(original)]
        self.assertEqual(received.count(b"\r\nReceived:") + 1, 1)
        self.assertIn(r.queue_id.encode(), received)
        self.assertIn(b"192.0.2.7", received)       # XCLIENT ADDR took effect
        self.assertEqual(m.headers("Subject"), ["lab smoke"])
        pf.wait_log(r"%s: client=\S+, sasl_method=XCLIENT, sasl_username=alice" % r.queue_id)
        pf.wait_queue_empty(10)

    def test_refusals_carry_code_and_text(self):
        pf = self.start_postfix(extra={
            "smtpd_recipient_restrictions":
                "check_recipient_access inline:{ {no@example.net=550 5.7.1 NOPE not here} }"})
        r = pf.send("sender@example.test", ["no@example.net"], _message())
        self.assertFalse(r.ok)
        self.assertEqual((r.stage, r.code), ("rcpt", 550), r)
        self.assertEqual(r.text,
                         "5.7.1 <no@example.net>: Recipient address rejected: NOPE not here")
        self.assertEqual(r.reply, "550 " + r.text)
        r = pf.send("sender@example.test", ["no@example.net", "yes@example.net"], _message())
        self.assertTrue(r.ok, r)
        self.assertEqual(list(r.refused), ["no@example.net"])
        self.assertEqual(self.sink.wait_for(1, 15)[0].rcpts, ["yes@example.net"])

        # set_milter() + reload: a milter that is not there tempfails.
        pf.set_milter("unix:" + os.path.join(self.tmp, "absent.sock"))
        r = pf.send("sender@example.test", ["yes@example.net"], _message())
        self.assertEqual((r.ok, r.stage, r.code), (False, "mail", 451), r)

    def test_absent_milter_tempfails_smtp_and_sendmail(self):
        # milter_default_action = tempfail: nothing passes unchecked, nothing is lost.
        pf = self.start_postfix(milter="local:" + os.path.join(self.tmp, "absent.sock"))
        r = pf.send("sender@example.test", ["rcpt@example.net"], _message())
        self.assertFalse(r.ok)
        self.assertEqual((r.stage, r.code, r.text),
                         ("mail", 451, "4.7.1 Service unavailable - try again later"), r)
        cp = pf.sendmail("local-sender@example.test", ["rcpt@example.net"], _message())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        pf.wait_log(r"cleanup\[\d+\]: \w+: milter-reject: CONNECT .*4\.7\.1")
        queued = pf.queue()
        self.assertEqual([q["sender"] for q in queued], ["local-sender@example.test"])
        self.assertEqual(self.sink.messages(), [])

    def test_milter_wiring_macros_and_reject(self):
        milter = lab.RecordingMilter(os.path.join(self.tmp, "rec.sock")).start()
        self.addCleanup(milter.stop)
        pf = self.start_postfix(milter=milter.address)
        r = pf.send("sender@example.test", ["rcpt@example.net"], _message(),
                    xclient={"ADDR": "192.0.2.7", "LOGIN": "alice"})
        self.assertTrue(r.ok, r)
        self.sink.wait_for(1, 15)
        [smtp] = [x for x in milter.sessions() if "E" in x.commands]
        self.assertEqual(smtp.mail_from, "sender@example.test")
        self.assertEqual(smtp.rcpts, ["rcpt@example.net"])
        self.assertEqual(smtp.macros["M"]["auth_authen"], "alice")   # XCLIENT LOGIN
        self.assertEqual(smtp.macros["C"]["client_addr"], "192.0.2.7")
        self.assertEqual(smtp.macros["E"]["i"], r.queue_id)
        self.assertEqual(smtp.macros["N"]["auth_authen"], "alice")
        self.assertIn(("Subject", "lab smoke"), smtp.headers)

        cp = pf.sendmail("local-sender@example.test", ["rcpt@example.net"], _message())
        self.assertEqual(cp.returncode, 0, cp.stderr)
        self.sink.wait_for(2, 15)
        local = [x for x in milter.sessions() if "E" in x.commands][-1]
        self.assertEqual(local.mail_from, "local-sender@example.test")   # non_smtpd_milters
        self.assertNotIn("auth_authen", local.macros["M"])

        milter.reject_at, milter.reject_reply = "eoh", "550 5.7.1 FROM_INVALID lab test"
        r = pf.send("sender@example.test", ["rcpt@example.net"], _message())
        self.assertEqual((r.ok, r.stage, r.code, r.text),
                         (False, "data", 550, "5.7.1 FROM_INVALID lab test"), r)
        self.assertEqual(len(self.sink.messages()), 2)

    def test_sendmail_path_delivers(self):
        pf = self.start_postfix()
        original = _message(subject="via sendmail")
        cp = pf.sendmail("local-sender@example.test", ["rcpt@example.net"], original)
        self.assertEqual(cp.returncode, 0, cp.stderr)
        [m] = self.sink.wait_for(1, 15)
        self.assertEqual(m.mail_from, "local-sender@example.test")
        self.assertEqual(m.rcpts, ["rcpt@example.net"])
        self.assertEqual(m.headers("Subject"), ["via sendmail"])
        self.assertTrue(m.data.endswith(original.split(b"\r\n\r\n", 1)[1]))
        self.assertRegex(pf.log(), r"pickup\[\d+\]: \w+: uid=0 from=<local-sender@example.test>")
        pf.wait_queue_empty(10)
        self.assertEqual(pf.queue(), [])


class DkimTest(unittest.TestCase):
    def setUp(self):
        self.tmp = lab.tmpdir(self)
        self.dns = lab.DnsServer(self.tmp)
        self.addCleanup(self.dns.stop)
        self.dns.add_zone("example.test")

        key = os.path.join(self.tmp, "rsa.pem")
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", key, "2048"],
                       check=True, capture_output=True, timeout=60)
        with open(key, "rb") as f:
            self.rsa_private = f.read()
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"],
                             check=True, capture_output=True, timeout=60).stdout
        self.dns.add("rsa1._domainkey.example.test", "TXT",
                     "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())

        import nacl.signing
        sk = nacl.signing.SigningKey.generate()
        self.ed_private = base64.b64encode(bytes(sk))
        self.dns.add("ed1._domainkey.example.test", "TXT",
                     "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode())
        self.dns.start()

    def sign(self, message):
        import dkim
        headers = [b"From", b"To", b"Subject", b"Date", b"Message-ID"]
        sig = dkim.sign(message, b"rsa1", b"example.test", self.rsa_private,
                        canonicalize=(b"relaxed", b"relaxed"), include_headers=headers)
        message = sig + message
        sig = dkim.sign(message, b"ed1", b"example.test", self.ed_private,
                        canonicalize=(b"relaxed", b"relaxed"), include_headers=headers,
                        signature_algorithm=b"ed25519-sha256")
        return sig + message

    def test_verify_through_postfix_and_tamper(self):
        sink = lab.Sink().start()
        self.addCleanup(sink.stop)
        pf = lab.Postfix(self.tmp, sink.port)
        self.addCleanup(pf.stop)
        pf.start()

        signed = self.sign(_message())
        r = pf.send("sender@example.test", ["rcpt@example.net"], signed)
        self.assertTrue(r.ok, r)
        [m] = sink.wait_for(1, 15)

        results = lab.verify_dkim(m.data, self.dns.port)
        self.assertEqual([(x.domain, x.selector, x.algorithm) for x in results],
                         [("example.test", "ed1", "ed25519-sha256"),
                          ("example.test", "rsa1", "rsa-sha256")])
        self.assertTrue(all(x.ok for x in results), results)
        self.assertEqual([x.error for x in results], ["", ""])

        tampered = m.data.replace(b"Hello from the lab.", b"Hello from the lab!")
        self.assertNotEqual(tampered, m.data)
        bad = lab.verify_dkim(tampered, self.dns.port)
        self.assertEqual([x.ok for x in bad], [False, False])
        self.assertTrue(all("body hash" in x.error for x in bad), bad)

        header_tampered = m.data.replace(b"Subject: lab smoke", b"Subject: lab smoky")
        self.assertEqual([x.ok for x in lab.verify_dkim(header_tampered, self.dns.port)],
                         [False, False])

    def test_missing_key_and_unsigned(self):
        signed = self.sign(_message())
        self.dns.remove("rsa1._domainkey.example.test")
        self.dns.apply()
        results = lab.verify_dkim(signed, self.dns.port)
        self.assertEqual([x.ok for x in results], [True, False])
        self.assertIn("missing public key", results[1].error)
        self.assertEqual(lab.verify_dkim(_message(), self.dns.port), [])


class HelpersTest(unittest.TestCase):
    def test_dirs_and_ports(self):
        here = os.path.dirname(os.path.abspath(lab.__file__))
        if "OUTPOST_SOURCE_DIR" not in os.environ:
            self.assertEqual(lab.source_dir(), os.path.abspath(os.path.join(here, "..", "..")))
        if "OUTPOST_BUILD_DIR" not in os.environ:
            self.assertEqual(lab.build_dir(), os.path.join(lab.source_dir(), "build"))
        a, b = lab.free_port(), lab.free_port()
        self.assertTrue(1024 < a < 65536 and 1024 < b < 65536)
        self.assertFalse(lab.tcp_listening(a))
        self.assertEqual(lab.postfix_milter_address("inet:8891@127.0.0.1"), "inet:127.0.0.1:8891")
        self.assertEqual(lab.postfix_milter_address("local:/run/m.sock"), "unix:/run/m.sock")
        self.assertEqual(lab.crlf("a\nb\r\nc"), b"a\r\nb\r\nc")


if __name__ == "__main__":
    unittest.main()
