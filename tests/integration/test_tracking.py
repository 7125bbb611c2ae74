"""Tracking and one-click unsubscribe end to end, through a real Postfix.

An HTML message (multipart/alternative, quoted-printable, links with
``&amp;`` query strings) goes through the private Postfix with outpost-milter
inline; the delivered message has its links and pixel rewritten, the
placeholder replaced, and a DKIM signature dkimpy passes.  The real
outpost-trackd then answers its click link (302 to the original URL, query
string intact), its pixel (the GIF) and the RFC 8058 one-click POST, after
which the next message to that recipient is refused with
ALL_RECIPIENTS_SUPPRESSED, and ``outpostctl stats`` shows all of it.  No URL
or header outpost writes contains the recipient address.
"""

import base64
import email.utils
import re
import smtplib
import unittest
import urllib.parse

import lab
import outpostlab
from outpostlab import OutpostCase, new_token

DOMAIN = "track.test"
PLAIN = "plain.test"  # opens and clicks off: only the placeholder is filled
RCPT = "reader.one@example.net"
SHOP = "https://shop.example.com/item?id=42&utm_source=mail&utm_medium=email"


def html_message(token, rcpt=RCPT, domain=DOMAIN):
    return outpostlab.html_message("News <news@%s>" % domain, rcpt, token, SHOP)


part = outpostlab.text_part

class TrackingTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.add_domain(PLAIN)
        op.ctl("domain", "set", DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("app", sasl="app-login")
        op.start_trackd()

    def get(self, url, method="GET", body=None, headers=None):
        return self.op.http(url, method, body, headers)

    def send_tracked(self, rcpt=RCPT):
        token = new_token("trk")
        r = self.op.send("bounce@%s" % DOMAIN, [rcpt], html_message(token, rcpt), login="app-login")
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        return token, m

    def test_end_to_end(self):
        token, m = self.send_tracked()
        self.assertSigned(m, DOMAIN)
        msg = m.email()
        html_part = part(msg, "html")
        self.assertEqual(html_part["Content-Transfer-Encoding"], "quoted-printable")
        raw_html = html_part.get_payload(decode=False)
        self.assertLessEqual(max(len(l) for l in raw_html.splitlines()), 76)
        html = html_part.get_content()
        hrefs = re.findall(r"""href=(?:"([^"]*)"|'([^']*)')""", html)
        hrefs = [a or b for a, b in hrefs]
        host = self.op.domain(DOMAIN)["name"]
        clicks = [h for h in hrefs if "/c/" in h]
        self.assertEqual(len(clicks), 2, hrefs)
        self.assertTrue(all(h.startswith("https://") for h in clicks), clicks)
        # Left alone: mailto, fragment, the no-track link; the placeholder is
        # the one-click page.
        self.assertIn("mailto:help@%s" % DOMAIN, hrefs)
        self.assertIn("#top", hrefs)
        self.assertIn("https://example.com/private", hrefs)
        unsub = [h for h in hrefs if "/u/" in h]
        self.assertEqual(len(unsub), 1, hrefs)
        self.assertNotIn("{{outpost_unsubscribe_url}}", html)
        self.assertIn("caf\u00e9 friends", html)  # the text around links as it was
        pixels = re.findall(r'src="(https://[^"]+/o/[^"]+)"', html)
        self.assertEqual(len(pixels), 1, html)
        text = part(msg, "plain").get_content()
        self.assertIn("Unsubscribe: " + unsub[0], text)
        self.assertIn(SHOP, text)  # text parts' links are not rewritten

        # The click redirects to the original URL, entities decoded and the
        # query string intact; the second keeps its fragment.
        r, _ = self.get(clicks[0], headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120"})
        self.assertEqual(r.status, 302)
        self.assertEqual(r.getheader("Location"), SHOP)
        r, _ = self.get(clicks[1])
        self.assertEqual(r.getheader("Location"), "https://example.com/a?x=1&y=2#frag")
        r, gif = self.get(pixels[0])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "image/gif")
        self.assertEqual(len(gif), 43)
        self.assertTrue(gif.startswith(b"GIF89a"))
        # A forged token is a plain 404.
        r, _ = self.get(clicks[0][:-3] + ("AAA" if not clicks[0].endswith("AAA") else "BBB"))
        self.assertEqual(r.status, 404)

        # RFC 8058 one-click, from the List-Unsubscribe header.
        [lu] = m.headers("List-Unsubscribe")
        https = re.search(r"<(https://[^>]+)>", lu).group(1)
        self.assertEqual(https, unsub[0])
        self.assertEqual(m.headers("List-Unsubscribe-Post"), ["List-Unsubscribe=One-Click"])
        r, _ = self.get(https, "POST", b"List-Unsubscribe=One-Click",
                        {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, self.op.trackd_log_text()[-2000:])
        listed = self.op.ctl_json("suppression", "list", DOMAIN, "--json")
        self.assertIn(RCPT, [e["address"] for e in listed])

        # The next message to that recipient from that domain is refused.
        t2 = new_token("trk")
        r = self.op.send("bounce@%s" % DOMAIN, [RCPT], html_message(t2), login="app-login")
        self.assertReply(r, 550, "5.7.1", "ALL_RECIPIENTS_SUPPRESSED")

        stats = self.op.ctl_json("stats", DOMAIN, "--json")
        t = stats["totals"]
        self.assertGreaterEqual(t.get("sent", 0), 1, stats)
        self.assertGreaterEqual(t.get("open.human", 0) + t.get("open.machine", 0), 1, stats)
        self.assertGreaterEqual(t.get("click.human", 0) + t.get("click.machine", 0), 2, stats)
        self.assertEqual(t.get("unsubscribe.one_click"), 1, stats)
        self.assertEqual(t.get("rejected.ALL_RECIPIENTS_SUPPRESSED"), 1, stats)
        self.assertGreaterEqual(t.get("tracked", 0), 1, stats)
        out = self.op.ctl("stats", DOMAIN).stdout
        self.assertRegex(out, r"one-click 1")
        self.assertIn(host, out)

    def test_no_url_or_added_header_holds_the_recipient(self):
        rcpt = "Secret.Person@example.net"
        token, m = self.send_tracked(rcpt)
        self.assertSigned(m, DOMAIN)
        variants = {rcpt, rcpt.lower()}
        for v in list(variants):
            for enc in (base64.b64encode, base64.urlsafe_b64encode):
                variants.add(enc(v.encode()).decode().rstrip("="))
        urls = set()
        for name in ("List-Unsubscribe", "List-Unsubscribe-Post", "DKIM-Signature"):
            for value in m.headers(name):
                for v in variants:
                    self.assertNotIn(v.lower(), value.lower(), "%s holds the recipient" % name)
                urls.update(re.findall(r"<([^>]+)>", value))
        msg = m.email()
        for p in msg.walk():
            if p.get_content_maintype() == "text":
                urls.update(re.findall(r"""(?:href|src)=["']([^"']+)["']""", p.get_content()))
        self.assertTrue(any("/c/" in u for u in urls) and any("/o/" in u for u in urls), urls)
        for u in urls:
            decoded = [u]
            for piece in re.split(r"[/.?=%]", u):
                try:
                    decoded.append(base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))
                                   .decode("latin-1"))
                except ValueError:
                    pass
            for d in decoded:
                for v in variants:
                    self.assertNotIn(v.lower(), d.lower(), "URL %s holds the recipient" % u)
        # Raw message: the address only where the sender wrote it (To).
        head, body = m.data.split(b"\r\n\r\n", 1)
        for v in variants:
            self.assertNotIn(v.lower().encode(), body.lower())

    def test_untracked_domain_keeps_the_body(self):
        token = new_token("trk")
        data = html_message(token, domain=PLAIN)
        r = self.op.send("bounce@%s" % PLAIN, [RCPT], data, login="app-login")
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, PLAIN)
        html = part(m.email(), "html").get_content()
        self.assertNotIn("/c/", html)
        self.assertNotIn("/o/", html)
        # Unsubscribe is on for it (the default): the placeholder is filled.
        self.assertNotIn("{{outpost_unsubscribe_url}}", html)
        self.assertRegex(html, r'href="https://[^"]+/u/[^"]+"')


if __name__ == "__main__":
    unittest.main()


class MailtoUnsubscribeTest(OutpostCase):
    """The List-Unsubscribe mailto, answered the way a mail client does:
    a message to the relay's unsubscribe address arrives on its port 25 (a
    smtpd without the milter), a transport map sends it to the pipe of
    contrib/postfix/master.cf.fragment, and `outpostctl ingest unsubscribe`
    suppresses the recipient."""

    UNSUB = "unsubscribe@relay.outpost.test"
    POSTFIX = {"transport_maps": "inline:{ unsubscribe@relay.outpost.test=outpost-unsubscribe: }"}
    POSTFIX_MASTER = (
        "127.0.0.1:{inbound_port} inet n - n - - smtpd -o smtpd_milters= -o non_smtpd_milters=",
        "outpost-unsubscribe unix - n n - 4 pipe",
        "  flags=R user=nobody argv={outpostctl} --config {config} ingest unsubscribe"
        " --sender ${{sender}}",
    )

    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.add_key("app", sasl="app-login")
        # The pipe runs as nobody (Postfix refuses root).
        op.give_store_to("nobody")

    def ask_to_unsubscribe(self, mailto, sender):
        address, query = mailto[len("mailto:"):].split("?", 1)
        subject = urllib.parse.unquote(urllib.parse.parse_qs(query)["subject"][0])
        self.assertEqual(address, self.UNSUB)
        data = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@mua.test>\r\n"
                "\r\nThis message will unsubscribe you.\r\n"
                % (sender, address, subject, email.utils.formatdate(usegmt=True), new_token("mua")))
        with smtplib.SMTP("127.0.0.1", self.op.inbound_port, timeout=30) as s:
            s.sendmail(sender, [address], data.encode())

    def wait_suppressed(self, address, timeout=30.0):
        def listed():
            return address in [e["address"] for e in self.op.ctl_json("suppression", "list", DOMAIN,
                                                                         "--json")]
        try:
            lab.wait_until(listed, timeout, 0.2, "suppression of %s" % address)
        except TimeoutError as exc:
            raise AssertionError("%s\nmaillog:\n%s" % (exc, self.op.postfix.log()[-3000:])) from None

    def test_mailto_through_the_pipe(self):
        token = new_token("mto")
        rcpts = ["first@example.net", "second@example.net"]
        r = self.op.send("bounce@%s" % DOMAIN, rcpts, html_message(token, ", ".join(rcpts)),
                         login="app-login")
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, DOMAIN)
        # Two recipients: no one-click URL, one mailto naming both.
        [lu] = m.headers("List-Unsubscribe")
        self.assertNotIn("https://", lu)
        self.assertEqual(m.headers("List-Unsubscribe-Post"), [])
        mailto = re.search(r"<(mailto:[^>]+)>", lu).group(1)
        self.assertIn(mailto, part(m.email(), "html").get_content())  # the placeholder
        # Somebody else sending it is logged and dropped (exit 0: no bounce).
        self.ask_to_unsubscribe(mailto, "mallory@example.org")
        self.op.postfix.wait_log(r"to=<%s>.*status=sent \(delivered via outpost-unsubscribe"
                                 % re.escape(self.UNSUB), timeout=30)
        self.ask_to_unsubscribe(mailto, "second@example.net")
        self.wait_suppressed("second@example.net")
        listed = [e["address"] for e in self.op.ctl_json("suppression", "list", DOMAIN, "--json")]
        self.assertEqual(listed, ["second@example.net"])
        stats = self.op.ctl_json("stats", DOMAIN, "--json")
        self.assertEqual(stats["totals"].get("unsubscribe.mailto"), 1, stats)
        # Nothing bounced back to the stranger.
        self.assertNotIn("status=bounced", self.op.postfix.log())
