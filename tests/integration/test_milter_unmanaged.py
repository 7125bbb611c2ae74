"""milter.unmanaged through a real Postfix: a relay that carries other mail.

With ``unmanaged: pass``, mail from a sender that is no outpost key and from
a domain outpost does not manage (the relay's cron mail, say) passes
untouched: not signed, no List-Unsubscribe, logged ``decision=pass
reason=unmanaged``.  With the default (``reject``) it is refused.  A
key-identified sender with an unmanaged domain is refused either way, and a
managed domain is never passed.
"""

import unittest

from outpostlab import OutpostCase, message

DOMAIN = "managed.test"
OTHER = "cron@host.unmanaged.test"


class UnmanagedPassTest(OutpostCase):
    MILTER = {"unmanaged": "pass"}

    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.add_key("app", sasl="app-login")

    def test_unmanaged_mail_passes_untouched(self):
        token, data = message("Cron Daemon <%s>" % OTHER, subject="nightly report")
        r = self.op.send(OTHER, ["admin@example.net"], data)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertEqual(m.headers("DKIM-Signature"), [])
        self.assertEqual(m.headers("List-Unsubscribe"), [])
        self.assertEqual(m.mail_from, OTHER)
        # Byte for byte what was sent, after Postfix's own Received line.
        self.assertTrue(m.data.endswith(data), m.data[:500])
        self.op.postfix.wait_log(r"status=sent", timeout=10)
        self.assertRegex(self.op.milter_log_text(), r"decision=pass reason=unmanaged from=%s" % OTHER)

    def test_managed_domain_is_never_passed(self):
        token, data = message("News <news@%s>" % DOMAIN)
        r = self.op.send("news@%s" % DOMAIN, ["a@example.net"], data)
        self.assertReply(r, 550, "5.7.1", "AUTH_REQUIRED")
        self.assertNotDelivered(token)

    def test_a_key_is_enforced_for_any_domain(self):
        token, data = message("App <app@%s>" % OTHER.split("@")[1])
        r = self.op.send(OTHER, ["a@example.net"], data, login="app-login")
        self.assertReply(r, 550, "5.7.1", "DOMAIN_NOT_FOUND")
        # and signs its managed domain as always
        token, data = message("App <app@%s>" % DOMAIN)
        r = self.op.send("app@%s" % DOMAIN, ["a@example.net"], data, login="app-login")
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, DOMAIN)


class UnmanagedRejectTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_domain(DOMAIN)
        op.add_key("app", sasl="app-login")

    def test_unmanaged_mail_is_refused_by_default(self):
        token, data = message("Cron Daemon <%s>" % OTHER)
        r = self.op.send(OTHER, ["admin@example.net"], data)
        self.assertReply(r, 550, "5.7.1", "AUTH_REQUIRED")
        token, data = message("App <app@%s>" % OTHER.split("@")[1])
        r = self.op.send(OTHER, ["a@example.net"], data, login="app-login")
        self.assertReply(r, 550, "5.7.1", "DOMAIN_NOT_FOUND")


if __name__ == "__main__":
    unittest.main()
