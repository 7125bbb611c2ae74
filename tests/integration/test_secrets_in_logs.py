"""No secret in any log: a full run through Postfix, outpost-milter and
outpost-trackd (key-header mail with a right and a wrong X-Outpost-Key,
SASL mail, a tracked newsletter, its click, pixel and one-click unsubscribe,
`config check`, `stats`, `events`), then every log of it — the milter's,
outpost-trackd's, Postfix's maillog, and what outpostctl printed — searched
for every secret: the API key secrets (and the wrong one a sender tried),
the tracking secrets in their file's form and decoded (hex, base64), and
every line of every DKIM private key.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_secrets_in_logs
"""

import base64
import glob
import os
import re
import unittest

import outpostlab
from outpostlab import OutpostCase, message, new_token

DOMAIN = "secrets.outpost-test.test"
SHOP = "https://shop.example.com/item?id=7"
WRONG = "op_" + "A" * 43   # a well-formed secret no key has


class SecretsInLogsTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.ctl("domain", "set", DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        cls.header_secret = op.add_key("header-app")
        cls.sasl_secret = op.add_key("sasl-app", sasl="sasl-app")
        op.start_trackd()

    def secrets(self):
        """Every secret of the installation, as text to search for."""
        out = {"api key (header)": self.header_secret, "api key (sasl key)": self.sasl_secret,
               "wrong api key tried": WRONG}
        with open(self.op.secret_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 2 or line.startswith("#"):
                    continue
                kid, secret = parts
                raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
                out["tracking secret %s" % kid] = secret
                out["tracking secret %s (hex)" % kid] = raw.hex()
                out["tracking secret %s (base64)" % kid] = base64.b64encode(raw).decode()
        for pem in glob.glob(os.path.join(self.op.keys_path, "*.pem")):
            with open(pem) as f:
                for n, line in enumerate(f):
                    line = line.strip()
                    if line and not line.startswith("-----"):
                        out["%s line %d" % (os.path.basename(pem), n)] = line
        return out

    def test_no_secret_in_any_log(self):
        op = self.op
        printed = []
        # Key-header mail, right and wrong key; SASL mail; a tracked newsletter.
        token, data = message("app@%s" % DOMAIN, key=self.header_secret)
        self.assertAccepted(op.send("bounce@%s" % DOMAIN, ["a@example.net"], data))
        op.wait_delivered(token)
        token, data = message("app@%s" % DOMAIN, key=WRONG)
        self.assertReply(op.send("bounce@%s" % DOMAIN, ["a@example.net"], data), 550, "5.7.1",
                         "AUTH_REQUIRED")
        token = new_token("sec")
        html = outpostlab.html_message("News <news@%s>" % DOMAIN, "reader@example.net", token, SHOP)
        self.assertAccepted(op.send("bounce@%s" % DOMAIN, ["reader@example.net"], html,
                                    login="sasl-app"))
        [m] = op.wait_delivered(token)
        body = m.data.replace(b"=\r\n", b"").decode("utf-8", "replace")
        links = re.findall(r"""https://[^"'\s<>]+/(?:c|o)/[^"'\s<>]+""", body.replace("=3D", "="))
        self.assertTrue(links, body[:2000])
        for url in links[:3]:
            r, _ = op.http(url)
            self.assertIn(r.status, (200, 302), url)
        unsub = re.search(r"<(https://[^>]+/u/[^>]+)>", " ".join(m.headers("List-Unsubscribe")))
        self.assertIsNotNone(unsub)
        r, _ = op.http(unsub.group(1), method="POST", body=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200)
        for args in (["config", "check"], ["stats", "--json"], ["events", "--json"],
                     ["key", "list", "--json"], ["tracking", "show"], ["domain", "show", DOMAIN]):
            r = op.ctl(*args, check=False)
            printed.append((" ".join(args), r.stdout + r.stderr))

        logs = {"milter log": op.milter_log_text(), "trackd log": op.trackd_log_text(),
                "postfix maillog": op.postfix.log()}
        for cmd, text in printed:
            logs["outpostctl " + cmd] = text
        secrets = self.secrets()
        self.assertGreater(len(secrets), 10)
        self.assertTrue(logs["milter log"] and logs["trackd log"] and logs["postfix maillog"])
        found = ["%s in %s" % (what, where) for what, secret in secrets.items()
                 for where, text in logs.items() if secret in text]
        self.assertEqual(found, [], "secrets in the logs")
        print("\n[secrets] %d secrets searched in %d logs (%d KB): none found"
              % (len(secrets), len(logs), sum(len(t) for t in logs.values()) // 1024))


if __name__ == "__main__":
    unittest.main()
