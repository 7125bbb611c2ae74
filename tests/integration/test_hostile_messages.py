"""Hostile message bodies and headers through a real Postfix and
outpost-milter with click and open tracking on: the catalogue below, each
case with its expected outcome.  Every case either is refused with the
reply named, or is delivered signed (dkimpy verifies it) — tracked or left
as it was, never half rewritten, never unsigned — and the milter is still
running afterwards.  With test_milter_hostile (29 From headers),
test_milter_lines and test_trackd's hostile requests this makes the hostile
input catalogue of the Reliability section.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_hostile_messages
"""

import base64
import quopri
import email.utils
import os
import time
import unittest

from outpostlab import OutpostCase, new_token

DOMAIN = "hostile-body.outpost-test.test"
SHOP = "https://shop.example.com/item?id=1"


def head(token, content_type="text/html; charset=utf-8", cte="7bit", extra=b"", mime=True):
    h = (b"From: News <news@" + DOMAIN.encode() + b">\r\n"
         b"To: reader@example.net\r\n"
         b"Subject: hostile [" + token.encode() + b"]\r\n"
         b"Date: " + email.utils.formatdate(usegmt=True).encode() + b"\r\n"
         b"Message-ID: <" + token.encode() + b"@client.outpost.test>\r\n")
    if mime:
        h += b"MIME-Version: 1.0\r\n"
    if content_type:
        h += b"Content-Type: " + content_type.encode() + b"\r\n"
    if cte:
        h += b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n"
    return h + extra + b"\r\n"


def html(token, inner=b""):
    return (b"<html><body><p><a href=\"" + SHOP.encode() + b"\">shop</a> token " +
            token.encode() + b"</p>" + inner + b"</body></html>\r\n")


def nested(token, depth):
    """`depth` multiparts inside each other, an HTML part at the bottom."""
    body = head(token, "multipart/mixed; boundary=\"b0\"", None)
    for i in range(depth):
        body += b"--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i, i + 1)
    body += b"--b%d\r\nContent-Type: text/html\r\n\r\n" % depth + html(token)
    for i in range(depth, -1, -1):
        body += b"--b%d--\r\n" % i
    return body


def alternative(token, parts):
    body = head(token, "multipart/alternative; boundary=\"alt\"", None)
    for i in range(parts):
        body += b"--alt\r\nContent-Type: text/html\r\n\r\n<p><a href=\"https://x.example/%d\">%d</a></p>\r\n" % (i, i)
    return body + b"--alt\r\nContent-Type: text/html\r\n\r\n" + html(token) + b"--alt--\r\n"


def garbage_attachment(token, size):
    """A text part and a 'base64' part of `size` octets that are not base64."""
    block = bytes(range(33, 127)) * 10 + b"\r\n"
    n = size // len(block)
    return (head(token, "multipart/mixed; boundary=\"g\"", None) +
            b"--g\r\nContent-Type: text/html\r\n\r\n" + html(token) +
            b"--g\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
            block * n + b"--g--\r\n")


def links(token, count):
    inner = b"".join(b"<a href=\"https://l.example/%d\">%d</a>\r\n" % (i, i) for i in range(count))
    return head(token) + html(token, inner)


def long_url(token, length):
    """A link of `length` octets, quoted-printable as a mail library sends it."""
    page = html(token, b"<a href=\"https://l.example/" + b"p" * length + b"\">long</a>")
    return head(token, cte="quoted-printable") + quopri.encodestring(page).replace(b"\n", b"\r\n")


CASES = [
    # (label, build(token) -> bytes, expected)
    # expected: "signed" (delivered, dkimpy passes), "untouched" (signed, body
    # as sent), or (code, enhanced, token word)
    ("1,000-level nested multipart", lambda t: nested(t, 1000), "signed"),
    ("100-level nested multipart", lambda t: nested(t, 100), "signed"),
    ("1,000 alternative parts", lambda t: alternative(t, 1000), "signed"),
    ("unterminated boundary", lambda t: head(t, "multipart/mixed; boundary=\"u\"", None)
     + b"--u\r\nContent-Type: text/html\r\n\r\n" + html(t), "signed"),
    ("boundary never used", lambda t: head(t, "multipart/mixed; boundary=\"never\"", None)
     + html(t), "signed"),
    ("multipart without boundary", lambda t: head(t, "multipart/mixed", None) + html(t), "signed"),
    # 99 MB: the lab's receiver takes messages up to 100 MB.
    ("99 MB of base64 garbage in a part", lambda t: garbage_attachment(t, 99 << 20), "signed"),
    ("invalid UTF-8 in a utf-8 HTML part", lambda t: head(t, cte="8bit")
     + html(t, b"<p>\xff\xfe\xc3\x28 \xed\xa0\x80</p>"), "signed"),
    ("unknown charset", lambda t: head(t, "text/html; charset=x-unknown-42") + html(t), "signed"),
    ("UTF-16 HTML", lambda t: head(t, "text/html; charset=utf-16", "base64")
     + base64.encodebytes(html(t).decode().encode("utf-16")).replace(b"\n", b"\r\n"), "signed"),
    ("href with CR LF (quoted-printable)", lambda t: head(t, cte="quoted-printable")
     + b"<a href=3D\"https://x.example/a=0D=0ASet-Cookie: x=3D1\">x</a> " + html(t), "signed"),
    ("javascript: and data: hrefs", lambda t: head(t)
     + html(t, b"<a href=\"javascript:alert(1)\">j</a><a href=\"data:text/html,<b>x</b>\">d</a>"),
     "signed"),
    ("a 10 KB URL", lambda t: long_url(t, 10000), "signed"),
    ("5,000 links", lambda t: links(t, 5000), "signed"),
    ("10,000 unclosed divs", lambda t: head(t) + html(t, b"<div>\r\n" * 10000), "signed"),
    ("NUL bytes in an 8bit HTML part", lambda t: head(t, cte="8bit") + html(t, b"<p>a\x00b</p>"),
     "signed"),
    ("base64 HTML with invalid characters", lambda t: head(t, cte="base64")
     + base64.encodebytes(html(t)).replace(b"\n", b"!*\r\n"), "signed"),
    ("broken quoted-printable", lambda t: head(t, cte="quoted-printable")
     + html(t, b"<p>=ZZ =4 =\r\n=</p>"), "signed"),
    ("unknown transfer encoding", lambda t: head(t, cte="x-weird") + html(t), "signed"),
    ("HTML without MIME-Version", lambda t: head(t, mime=False) + html(t), "signed"),
    ("empty body", lambda t: head(t, "text/plain", None)[:-2]
     + b"X-Token: " + t.encode() + b"\r\n\r\n", "signed"),
    ("lines of dots", lambda t: head(t, "text/plain", None) + b".\r\n..\r\n...\r\n"
     + t.encode() + b"\r\n", "signed"),
    ("500 headers", lambda t: head(t, extra=b"".join(b"X-H%d: v\r\n" % i for i in range(500)))
     + html(t), "signed"),
    ("a 85 KB folded header", lambda t: head(t, extra=b"X-Long: "
     + b"\r\n ".join([b"w" * 70] * 1200) + b"\r\n") + html(t), "signed"),
    ("message/rfc822 attachment with links", lambda t: head(t, "multipart/mixed; boundary=\"m\"", None)
     + b"--m\r\nContent-Type: text/html\r\n\r\n" + html(t)
     + b"--m\r\nContent-Type: message/rfc822\r\n\r\nFrom: a@b.example\r\nSubject: inner\r\n"
     b"Content-Type: text/html\r\n\r\n<a href=\"https://inner.example/\">in</a>\r\n--m--\r\n", "signed"),
    ("multipart/signed", lambda t: head(t, "multipart/signed; protocol=\"application/pgp-signature\"; "
     "micalg=pgp-sha256; boundary=\"s\"", None)
     + b"--s\r\nContent-Type: text/html\r\n\r\n" + html(t)
     + b"--s\r\nContent-Type: application/pgp-signature\r\n\r\n-----BEGIN PGP SIGNATURE-----\r\n"
     b"iQ==\r\n-----END PGP SIGNATURE-----\r\n--s--\r\n", "untouched"),
    ("IDN and percent-encoded URLs", lambda t: head(t, cte="8bit")
     + html(t, "<a href=\"https://b\u00fccher.example/\u00e4?q=%00%0d%0a\">i</a>".encode()), "signed"),
    ("a 64 KB From", lambda t: b"From: \"" + b"a" * 65536 + b"\" <news@" + DOMAIN.encode() + b">\r\n"
     + head(t)[head(t).index(b"\r\n") + 2:] + html(t), (550, "5.7.1", "FROM_INVALID")),
    ("a 1,500-octet body line", lambda t: head(t) + b"<p>" + b"x" * 1500 + b"</p>\r\n" + html(t),
     (550, "5.6.0", "LINE_TOO_LONG")),
    ("a bare LF smuggling a second From", lambda t: head(t, extra=b"X-Note: a\nFrom: x@evil.example\r\n")
     + html(t), "any"),
]


class HostileMessagesTest(OutpostCase):
    # Room for the 100 MB case (Postfix's default limit is 10 MB).
    POSTFIX = {"message_size_limit": str(200 << 20)}
    observed = []

    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.ctl("domain", "set", DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("app", sasl="app")

    @classmethod
    def tearDownClass(cls):
        if cls.observed:
            print("\n--- hostile messages: what happened ---")
            for line in cls.observed:
                print(line)
        super().tearDownClass()

    def test_catalogue(self):
        op = self.op
        for label, build, expected in CASES:
            with self.subTest(label):
                token = new_token("hm")
                data = build(token)
                t0 = time.monotonic()
                r = op.send("bounce@%s" % DOMAIN, ["reader@example.net"], data, login="app",
                            addr="192.0.2.100", timeout=300)
                seconds = time.monotonic() - t0
                self.assertTrue(op.milter.alive(), "%s: the milter died\n%s" % (
                    label, op.milter_log_text()[-3000:]))
                if isinstance(expected, tuple):
                    self.assertReply(r, *expected)
                    self.assertNotDelivered(token, settle=0.2)
                    self.observed.append("%-40s refused %s (%.1f s)" % (label, r.reply[:60], seconds))
                    continue
                if expected == "any" and not r.ok:
                    self.assertIn(r.code // 100, (4, 5), str(r))
                    self.observed.append("%-40s refused %s" % (label, r.reply[:60]))
                    continue
                self.assertAccepted(r)
                [m] = op.wait_delivered(token, timeout=120)
                # dkimpy on the raw bytes (Python's MIME parser recurses too
                # deep for some cases, so assertSigned's header reads are not used).
                results = self.dkim(m)
                self.assertTrue(results and all(x.ok for x in results),
                                "%s: %r" % (label, [(x.domain, x.error) for x in results]))
                self.assertIn(DOMAIN, [x.domain for x in results], label)
                body = m.data.split(b"\r\n\r\n", 1)[1]
                sent_body = data.split(b"\r\n\r\n", 1)[1]
                if expected == "untouched":
                    self.assertEqual(body.rstrip(b"\r\n"), sent_body.rstrip(b"\r\n"), label)
                tracked = b"/c/" in body.replace(b"=\r\n", b"")
                self.observed.append("%-40s delivered, signed, %s (%.1f s, %d KB)" % (
                    label, "tracked" if tracked else "untracked", seconds, len(data) // 1024))
        self.assertGreaterEqual(len(CASES), 30)


if __name__ == "__main__":
    unittest.main()
