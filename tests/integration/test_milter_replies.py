"""outpost-milter's SMTP replies (DESIGN.md, "SMTP replies") produced through a
real Postfix: exact code, enhanced code and reason token; plus warmup under
concurrency, suppression and sandbox keys.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build-itest /usr/bin/python3 -m unittest -v test_milter_replies
"""

import concurrent.futures
import unittest

from outpostlab import OutpostCase, SANDBOX_RCPT, message

OK = "ok.acme-replies.test"            # acme, verified
OTHER = "other.acme-replies.test"      # acme, verified, not in the limited key's list
PENDING = "pending.acme-replies.test"  # acme, records never published
INACTIVE = "inactive.acme-replies.test"
GONE = "gone.acme-replies.test"        # removed
WARM = "warm.acme-replies.test"        # warmup: 50 recipients today
SUPP = "supp.acme-replies.test"        # suppression list
GLOBEX = "globex-replies.test"         # tenant globex
SHARED = "shared-replies.test"         # shared with every tenant


class RepliesTest(OutpostCase):
    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_tenant("globex")
        for d in (OK, OTHER, INACTIVE, GONE, WARM, SUPP):
            op.add_domain(d, tenant="acme")
        op.add_domain(PENDING, tenant="acme", publish=False, verify=False)
        op.add_domain(GLOBEX, tenant="globex")
        op.add_domain(SHARED, shared=True)
        op.ctl("domain", "set", INACTIVE, "--active", "off")
        op.ctl("domain", "remove", GONE)
        op.ctl("domain", "set", WARM, "--warmup-days", "14")
        op.ctl("suppression", "add", SUPP, "Blocked@Example.net")
        op.ctl("suppression", "add", SUPP, "also-blocked@example.net")
        cls.acme = op.add_key("acme-all", tenant="acme", sasl="acme-all")
        cls.limited = op.add_key("acme-limited", tenant="acme", allow=[OK], sasl="acme-limited")
        cls.globex = op.add_key("globex", tenant="globex", sasl="globex")
        cls.sandbox = op.add_key("acme-sandbox", tenant="acme", sasl="acme-sandbox",
                                 sandbox=True)
        d = op.domain(WARM)
        assert d["warmup"]["limit_today"] == 50, d["warmup"]

    def send(self, from_domain, login="acme-all", rcpts=("rcpt@example.net",), **kw):
        token, data = message("Sender <sender@%s>" % from_domain, **kw)
        # Clients come from 192.0.2.x so that no CIDR key matches by accident.
        r = self.op.send("bounce@%s" % from_domain, list(rcpts), data, login=login,
                         addr="192.0.2.100")
        return token, r

    def refused(self, result, token, code, enhanced, word):
        self.assertReply(result, code, enhanced, word)
        self.assertNotDelivered(token)

    # --- identity ---------------------------------------------------------
    def test_auth_required(self):
        token, r = self.send(OK, login=None)
        self.refused(r, token, 550, "5.7.1", "AUTH_REQUIRED")

    def test_wrong_key_header_is_no_identity(self):
        token, r = self.send(OK, login=None, key="op_wrong-secret-0000000000000000000000000")
        self.refused(r, token, 550, "5.7.1", "AUTH_REQUIRED")

    def test_key_header_identifies(self):
        token, r = self.send(OK, login=None, key=self.acme)
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertSigned(m, OK)

    # --- From -------------------------------------------------------------
    def test_missing_from(self):
        token, data = message(None)
        r = self.op.send("bounce@%s" % OK, ["rcpt@example.net"], data, login="acme-all",
                         addr="192.0.2.100")
        self.refused(r, token, 550, "5.7.1", "FROM_INVALID")

    def test_unparsable_from(self):
        token, data = message("<alice@%s" % OK)
        r = self.op.send("bounce@%s" % OK, ["rcpt@example.net"], data, login="acme-all",
                         addr="192.0.2.100")
        self.refused(r, token, 550, "5.7.1", "FROM_INVALID")

    # --- domain state -----------------------------------------------------
    def test_domain_not_found(self):
        token, r = self.send("unknown.acme-replies.test")
        self.refused(r, token, 550, "5.7.1", "DOMAIN_NOT_FOUND")

    def test_removed_domain_not_found(self):
        token, r = self.send(GONE)
        self.refused(r, token, 550, "5.7.1", "DOMAIN_NOT_FOUND")

    def test_pending_verification(self):
        token, r = self.send(PENDING)
        self.refused(r, token, 550, "5.7.1", "DOMAIN_PENDING_VERIFICATION")

    def test_failed_verification_run_still_pending(self):
        # A verify run that finds nothing published leaves it unverified.
        cp = self.op.ctl("domain", "verify", PENDING, check=False)
        self.assertNotEqual(cp.returncode, 0, cp.stdout)
        self.assertIn(self.op.domain(PENDING)["status"], ("pending", "failed"))
        token, r = self.send(PENDING)
        self.refused(r, token, 550, "5.7.1", "DOMAIN_PENDING_VERIFICATION")

    def test_inactive_then_active_again(self):
        token, r = self.send(INACTIVE)
        self.refused(r, token, 550, "5.7.1", "DOMAIN_INACTIVE")
        # The switch takes effect in the running milter without a reload.
        self.op.ctl("domain", "set", INACTIVE, "--active", "on")
        try:
            token, r = self.send(INACTIVE)
            self.assertAccepted(r)
            [m] = self.op.wait_delivered(token)
            self.assertSigned(m, INACTIVE)
        finally:
            self.op.ctl("domain", "set", INACTIVE, "--active", "off")
        token, r = self.send(INACTIVE)
        self.refused(r, token, 550, "5.7.1", "DOMAIN_INACTIVE")

    def test_suspended(self):
        self.op.ctl("domain", "suspend", OTHER, "--reason", "test")
        self.assertEqual(self.op.domain(OTHER)["status"], "suspended")
        try:
            token, r = self.send(OTHER)
            self.refused(r, token, 550, "5.7.1", "DOMAIN_SUSPENDED")
            self.assertIn("(test)", r.text)  # the administrator's reason reaches the sender
        finally:
            self.op.ctl("domain", "reinstate", OTHER)

    # --- key and tenant ---------------------------------------------------
    def test_not_allowed_for_key(self):
        token, r = self.send(OTHER, login="acme-limited")
        self.refused(r, token, 550, "5.7.1", "DOMAIN_NOT_ALLOWED_FOR_KEY")
        token, r = self.send(OK, login="acme-limited")
        self.assertAccepted(r)
        self.assertSigned(self.op.wait_delivered(token)[0], OK)

    def test_tenant_mismatch(self):
        token, r = self.send(OK, login="globex")
        self.refused(r, token, 550, "5.7.1", "DOMAIN_TENANT_MISMATCH")
        token, r = self.send(GLOBEX, login="acme-all")
        self.refused(r, token, 550, "5.7.1", "DOMAIN_TENANT_MISMATCH")

    def test_shared_domain_allowed_to_every_tenant(self):
        for login in ("globex", "acme-all"):
            token, r = self.send(SHARED, login=login)
            self.assertAccepted(r)
            self.assertSigned(self.op.wait_delivered(token)[0], SHARED)

    # --- warmup -----------------------------------------------------------
    def test_warmup_exact_under_concurrency(self):
        # 60 parallel single-recipient messages against 50 left today.
        def one(i):
            return self.send(WARM, rcpts=("w%02d@example.net" % i,))
        with concurrent.futures.ThreadPoolExecutor(60) as pool:
            results = list(pool.map(one, range(60)))
        accepted = [(t, r) for t, r in results if r.ok]
        refused = [(t, r) for t, r in results if not r.ok]
        self.assertEqual((len(accepted), len(refused)), (50, 10),
                         "accepted %d, refused: %s" % (len(accepted),
                                                       [str(r) for _, r in refused][:12]))
        for token, r in refused:
            self.assertReply(r, 452, "4.7.1", "WARMUP_LIMIT_EXCEEDED")
            self.assertIn("resets 00:00 UTC", r.text)
        for token, _ in accepted:
            [m] = self.op.wait_delivered(token)
            self.assertSigned(m, WARM)
        for token, _ in refused:
            self.assertNotDelivered(token)
        # The limit holds for the next message too, and is visible to outpostctl.
        token, r = self.send(WARM)
        self.assertReply(r, 452, "4.7.1", "WARMUP_LIMIT_EXCEEDED")
        self.assertEqual(self.op.domain(WARM)["warmup"]["used_today"], 50)

    # --- suppression ------------------------------------------------------
    def test_all_recipients_suppressed(self):
        token, r = self.send(SUPP, rcpts=("blocked@example.net", "Also-Blocked@EXAMPLE.net"))
        self.refused(r, token, 550, "5.7.1", "ALL_RECIPIENTS_SUPPRESSED")

    def test_partly_suppressed_delivered_to_the_rest(self):
        token, r = self.send(SUPP, rcpts=("blocked@example.net", "fine@example.net"))
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertEqual(m.rcpts, ["fine@example.net"])
        self.assertSigned(m, SUPP)
        self.op.postfix.wait_queue_empty(20)
        self.assertEqual(len(self.op.delivered(token)), 1)

    def test_suppression_is_per_domain(self):
        token, r = self.send(OK, rcpts=("blocked@example.net",))
        self.assertAccepted(r)
        self.assertEqual(self.op.wait_delivered(token)[0].rcpts, ["blocked@example.net"])

    # --- sandbox ----------------------------------------------------------
    def test_sandbox_redirects_unverified_domain(self):
        token, r = self.send(PENDING, login="acme-sandbox",
                             rcpts=("real1@example.net", "real2@example.org"))
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertEqual(m.rcpts, [SANDBOX_RCPT])
        self.op.postfix.wait_queue_empty(20)
        self.assertEqual(len(self.op.delivered(token)), 1)

    def test_sandbox_redirects_verified_domain(self):
        token, r = self.send(OK, login="acme-sandbox", rcpts=("real@example.net",))
        self.assertAccepted(r)
        [m] = self.op.wait_delivered(token)
        self.assertEqual(m.rcpts, [SANDBOX_RCPT])
        self.op.postfix.wait_queue_empty(20)
        self.assertEqual(len(self.op.delivered(token)), 1)


class PendingTempfailTest(OutpostCase):
    """milter.pending_action: tempfail -> 451 4.7.1 for unverified domains."""

    MILTER = {"pending_action": "tempfail"}

    @classmethod
    def setUpOutpost(cls, op):
        op.add_tenant("acme")
        op.add_domain(PENDING, tenant="acme", publish=False, verify=False)
        op.add_domain(OK, tenant="acme")
        op.add_key("acme-all", tenant="acme", sasl="acme-all")

    def test_pending_tempfails(self):
        token, data = message("sender@%s" % PENDING)
        r = self.op.send("bounce@%s" % PENDING, ["rcpt@example.net"], data, login="acme-all",
                         addr="192.0.2.100")
        self.assertReply(r, 451, "4.7.1", "DOMAIN_PENDING_VERIFICATION")
        self.assertNotDelivered(token)

    def test_verified_still_signed(self):
        token, data = message("sender@%s" % OK)
        r = self.op.send("bounce@%s" % OK, ["rcpt@example.net"], data, login="acme-all",
                         addr="192.0.2.100")
        self.assertAccepted(r)
        self.assertSigned(self.op.wait_delivered(token)[0], OK)


if __name__ == "__main__":
    unittest.main()
