"""`outpostctl domain verify` against a real DNS server (unbound) on 127.0.0.1.

Each test adds a domain to a fresh store, publishes (or breaks) its records in
the lab's unbound, runs the real outpostctl binary and checks its exit status,
its table or JSON, and the state saved in the store.  Nothing is mocked: the
resolver is libunbound forwarding to the lab server, SPF is libspf2.
"""

import json
import os
import subprocess
import time
import unittest

import lab

import verifylab
from verifylab import BOUNCE_HOST, RELAY_INCLUDE, RELAY_IPS, TRACK_HOST  # noqa: F401


def outpostctl():
    return os.path.join(lab.build_dir(), "outpostctl")


class VerifyTest(unittest.TestCase):
    dns = None

    @classmethod
    def setUpClass(cls):
        cls.root = lab.tmpdir(None, "outpost-verify-")
        cls.dns = lab.DnsServer(cls.root)
        # One static zone for the whole test TLD: names without records
        # answer NXDOMAIN, like a real authoritative server.
        cls.dns.add_zone("test")
        cls.dns.add(RELAY_INCLUDE, "TXT", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all")
        cls.dns.start()

    @classmethod
    def tearDownClass(cls):
        if cls.dns:
            cls.dns.stop()
        subprocess.run(["rm", "-rf", cls.root], check=False)

    def setUp(self):
        self.tmp = lab.tmpdir(self)
        self.config = self.write_config()
        self.added = []

    def tearDown(self):
        # Records of this test's domains go; the relay's include stays.
        for d in self.added:
            for owner in [r[0] for r in self.dns.records]:
                if owner == d + "." or owner.endswith("." + d + "."):
                    self.dns.remove(owner)
        self.dns.apply()

    # --- helpers ----------------------------------------------------------
    def write_config(self, timeout="2s", trust_anchor=""):
        path = os.path.join(self.tmp, "outpost-%d.yaml" % time.monotonic_ns())
        return verifylab.write_config(path, self.tmp, self.dns.upstream, timeout=timeout,
                                      trust_anchor=trust_anchor)

    def ctl(self, *args, config=None):
        return subprocess.run([outpostctl(), "--config", config or self.config] + list(args),
                              capture_output=True, text=True, timeout=120)

    def ctl_json(self, *args):
        r = self.ctl(*args, "--json")
        self.assertIn(r.returncode, (0, 7), r.stderr)
        return r.returncode, json.loads(r.stdout)

    def add(self, domain, *opts):
        r = self.ctl("domain", "add", domain, *opts)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.added.append(domain)
        return self.records(domain)

    def records(self, domain):
        r = self.ctl("domain", "records", domain, "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def publish(self, recs, skip=()):
        """Publish records as `domain records --format json` lists them."""
        for rec in recs:
            if rec["purpose"] in skip or (rec["purpose"], rec["type"]) in skip:
                continue
            value = rec["strings"] if rec["type"] == "TXT" else rec["value"]
            self.dns.add(rec["host"], rec["type"], value)
        self.dns.apply()

    def dkim(self, recs):
        return [r for r in recs if r["purpose"] == "dkim"]

    def verify(self, domain):
        code, out = self.ctl_json("domain", "verify", domain)
        return code, out, {c["name"]: c for c in out["checks"]}

    def show(self, domain):
        r = self.ctl("domain", "show", domain, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def selector_states(self, domain):
        return {s["name"]: s["state"] for s in self.show(domain)["selectors"]}

    def verified_domain(self, domain):
        recs = self.add(domain)
        self.publish(recs)
        code, out, _ = self.verify(domain)
        self.assertEqual((code, out["status"]), (0, "verified"), out)
        return recs

    # --- all right ----------------------------------------------------------
    def test_missing_relay_include_is_named_as_such(self):
        # The domain published everything; the relay's own SPF record is not
        # there: the advice is to publish it, not SPF's look-up limit.
        recs = self.add("noinclude.test")
        self.publish(recs)
        self.dns.remove(RELAY_INCLUDE, "TXT")
        self.dns.apply()
        try:
            code, out, checks = self.verify("noinclude.test")
        finally:
            self.dns.add(RELAY_INCLUDE, "TXT", "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all")
            self.dns.apply()
        self.assertEqual(code, 7)
        spf = checks["spf"]
        self.assertNotEqual(spf["status"], "ok", spf)
        self.assertIn("%s has no SPF record" % RELAY_INCLUDE, spf["hint"])
        self.assertIn("outpostctl relay records", spf["hint"])
        self.assertNotIn("10 DNS-querying", spf["hint"])

    def test_all_records_right_verifies(self):
        recs = self.add("good.test")
        sel = self.dkim(recs)[0]["host"].split(".")[0]
        self.assertEqual(self.selector_states("good.test"), {sel: "pending"})
        self.publish(recs)
        r = self.ctl("domain", "verify", "good.test")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("good.test: verified (was pending)", r.stdout)
        self.assertIn("selector %s is now active" % sel, r.stdout)
        d = self.show("good.test")
        self.assertEqual(d["status"], "verified")
        self.assertGreater(d["verified_at"], 0)
        self.assertEqual(self.selector_states("good.test"), {sel: "active"})
        checks = {c["name"]: c for c in d["checks"]}
        self.assertEqual(checks["dkim:" + sel]["status"], "ok")
        self.assertEqual(checks["spf"]["status"], "ok")
        self.assertIn("192.0.2.10: pass", checks["spf"]["found"])
        self.assertIn("2001:db8::10: pass", checks["spf"]["found"])
        # The suggested p=none is accepted, with a warning.
        self.assertEqual(checks["dmarc"]["status"], "warn")
        self.assertIn("p=none", checks["dmarc"]["hint"])
        self.assertEqual(checks["mailfrom"]["status"], "ok")
        self.assertEqual(checks["tracking"]["status"], "ok")
        # Verifying again changes nothing and still exits 0.
        code, out, _ = self.verify("good.test")
        self.assertEqual((code, out["status"], out["previous_status"]), (0, "verified", "verified"))

    def test_optional_records_missing_still_verifies(self):
        recs = self.add("core.test")
        self.publish(recs, skip=("mailfrom", "tracking"))
        code, out, checks = self.verify("core.test")
        self.assertEqual((code, out["status"]), (0, "verified"))
        self.assertEqual(checks["mailfrom"]["status"], "missing")
        self.assertFalse(checks["mailfrom"]["required"])
        self.assertIn("publish MX bounce.core.test 10 %s." % BOUNCE_HOST, checks["mailfrom"]["hint"])
        self.assertEqual(checks["tracking"]["status"], "missing")
        self.assertIn("publish CNAME track.core.test %s." % TRACK_HOST, checks["tracking"]["hint"])

    # --- DKIM ---------------------------------------------------------------
    def test_dkim_missing_says_which_record_to_publish(self):
        recs = self.add("nodkim.test")
        self.publish(recs, skip=("dkim",))
        rec = self.dkim(recs)[0]
        r = self.ctl("domain", "verify", "nodkim.test")
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("nodkim.test: pending", r.stdout)
        # One line tells exactly what to publish: type, host and full value.
        want = 'publish TXT %s "%s"' % (rec["host"], rec["value"])
        self.assertIn(want, r.stdout)
        _, _, checks = self.verify("nodkim.test")
        c = checks["dkim:" + rec["host"].split(".")[0]]
        self.assertEqual(c["status"], "missing")
        self.assertTrue(c["required"])
        self.assertEqual(self.show("nodkim.test")["status"], "pending")

    def test_dkim_wrong_key(self):
        other = self.dkim(self.add("other-key.test"))[0]
        recs = self.add("wrongkey.test")
        rec = self.dkim(recs)[0]
        self.publish(recs, skip=("dkim",))
        self.dns.add(rec["host"], "TXT", other["strings"])
        self.dns.apply()
        code, out, checks = self.verify("wrongkey.test")
        c = checks["dkim:" + rec["host"].split(".")[0]]
        self.assertEqual((code, out["status"], c["status"]), (7, "pending", "mismatch"))
        self.assertIn("different public key", c["hint"])
        self.assertIn(rec["value"], c["hint"])

    def test_dkim_revoked_key(self):
        recs = self.add("revoked.test")
        rec = self.dkim(recs)[0]
        self.publish(recs, skip=("dkim",))
        self.dns.add(rec["host"], "TXT", "v=DKIM1; k=rsa; p=")
        self.dns.apply()
        code, _, checks = self.verify("revoked.test")
        c = checks["dkim:" + rec["host"].split(".")[0]]
        self.assertEqual((code, c["status"]), (7, "mismatch"))
        self.assertIn("revoked", c["hint"])

    def test_dkim_testing_flag_and_unknown_tag_are_warnings(self):
        recs = self.add("testing.test")
        rec = self.dkim(recs)[0]
        self.publish(recs, skip=("dkim",))
        self.dns.add(rec["host"], "TXT", "v=DKIM1; t=y; zz=1; " + rec["value"][len("v=DKIM1; "):])
        self.dns.apply()
        code, out, checks = self.verify("testing.test")
        c = checks["dkim:" + rec["host"].split(".")[0]]
        self.assertEqual((code, out["status"], c["status"]), (0, "verified", "warn"))
        self.assertIn("t=y", c["hint"])
        self.assertIn("zz=", c["hint"])

    def test_dkim_by_cname_delegation(self):
        recs = self.add("delegated.test")
        rec = self.dkim(recs)[0]
        target = rec["host"].split(".")[0] + ".delegated.dkim-provider.test"
        self.publish(recs, skip=("dkim",))
        self.dns.add(rec["host"], "CNAME", target)
        self.dns.add(target, "TXT", rec["strings"])
        self.dns.apply()
        self.added.append("dkim-provider.test")
        code, out, checks = self.verify("delegated.test")
        c = checks["dkim:" + rec["host"].split(".")[0]]
        self.assertEqual((code, out["status"], c["status"]), (0, "verified", "ok"))
        self.assertIn("via CNAME %s -> %s" % (rec["host"], target), c["found"])

    # --- SPF ----------------------------------------------------------------
    def test_two_spf_records_hint_is_the_merged_record(self):
        recs = self.add("twospf.test")
        self.publish(recs, skip=("spf",))
        self.dns.add("twospf.test", "TXT", "v=spf1 include:_spf.mailer.test ~all")
        self.dns.add("twospf.test", "TXT", "v=spf1 ip4:198.51.100.7 -all")
        self.dns.apply()
        code, out, checks = self.verify("twospf.test")
        c = checks["spf"]
        merged = "v=spf1 include:_spf.mailer.test ip4:198.51.100.7 include:%s ~all" % RELAY_INCLUDE
        self.assertEqual((code, out["status"], c["status"]), (7, "pending", "mismatch"))
        self.assertIn('publish this one instead: TXT twospf.test "%s"' % merged, c["hint"])
        # `domain records` now advises the merged record, not a third one.
        spf = [r for r in self.records("twospf.test") if r["purpose"] == "spf"][0]
        self.assertEqual(spf["value"], merged)

    def test_spf_passing_only_through_ip4(self):
        recs = self.add("ip4only.test")
        self.publish(recs, skip=("spf",))
        self.dns.add("ip4only.test", "TXT", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/64 -all")
        self.dns.apply()
        code, out, checks = self.verify("ip4only.test")
        self.assertEqual((code, out["status"], checks["spf"]["status"]), (0, "verified", "ok"))
        # Existing record without our include: records advise the merge.
        spf = [r for r in self.records("ip4only.test") if r["purpose"] == "spf"][0]
        self.assertEqual(spf["value"], "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/64 include:%s -all"
                         % RELAY_INCLUDE)

    def test_spf_without_relay_is_softfail_with_merge_hint(self):
        recs = self.add("softfail.test")
        self.publish(recs, skip=("spf",))
        self.dns.add("softfail.test", "TXT", "v=spf1 mx ~all")
        self.dns.apply()
        code, _, checks = self.verify("softfail.test")
        c = checks["spf"]
        self.assertEqual((code, c["status"]), (7, "mismatch"))
        self.assertIn("192.0.2.10: softfail", c["found"])
        self.assertIn('with "v=spf1 mx include:%s ~all"' % RELAY_INCLUDE, c["hint"])

    def test_spf_permerror_too_many_lookups(self):
        recs = self.add("toomany.test")
        self.publish(recs, skip=("spf",))
        terms = []
        for i in range(11):
            host = "l%d.toomany.test" % i
            self.dns.add(host, "TXT", "v=spf1 ?all")
            terms.append("include:" + host)
        self.dns.add("toomany.test", "TXT", "v=spf1 %s include:%s ~all" % (" ".join(terms), RELAY_INCLUDE))
        self.dns.apply()
        code, _, checks = self.verify("toomany.test")
        c = checks["spf"]
        self.assertEqual((code, c["status"]), (7, "mismatch"))
        self.assertIn("permerror", c["found"])
        self.assertIn("10 DNS-querying terms", c["hint"])

    # --- DMARC --------------------------------------------------------------
    def test_dmarc_only_at_organizational_domain(self):
        recs = self.add("mail.orgdmarc.test")
        self.publish(recs, skip=("dmarc",))
        self.dns.add("_dmarc.orgdmarc.test", "TXT", "v=DMARC1; p=reject; rua=mailto:d@orgdmarc.test")
        self.dns.apply()
        self.added.append("orgdmarc.test")
        code, out, checks = self.verify("mail.orgdmarc.test")
        c = checks["dmarc"]
        self.assertEqual((code, out["status"], c["status"]), (0, "verified", "ok"))
        self.assertIn("inherited from _dmarc.orgdmarc.test", c["found"])
        self.assertIn("policy reject", c["found"])

    def test_no_dmarc(self):
        recs = self.add("nodmarc.test", "--dmarc-policy", "quarantine")
        self.publish(recs, skip=("dmarc",))
        code, out, checks = self.verify("nodmarc.test")
        c = checks["dmarc"]
        self.assertEqual((code, out["status"], c["status"]), (7, "pending", "missing"))
        self.assertEqual(c["hint"], 'publish TXT _dmarc.nodmarc.test "v=DMARC1; p=quarantine"')

    # --- lifecycle ----------------------------------------------------------
    def test_degraded_when_dkim_removed_then_restored(self):
        recs = self.verified_domain("cycle.test")
        rec = self.dkim(recs)[0]
        self.dns.remove(rec["host"], "TXT")
        self.dns.apply()
        code, out, checks = self.verify("cycle.test")
        self.assertEqual((code, out["status"], out["previous_status"]), (7, "degraded", "verified"))
        self.assertEqual(checks["dkim:" + rec["host"].split(".")[0]]["status"], "missing")
        self.assertEqual(self.show("cycle.test")["status"], "degraded")
        self.dns.add(rec["host"], "TXT", rec["strings"])
        self.dns.apply()
        code, out, _ = self.verify("cycle.test")
        self.assertEqual((code, out["status"], out["previous_status"]), (0, "verified", "degraded"))

    def test_unreachable_server_is_error_and_keeps_status(self):
        self.verified_domain("steady.test")
        pending = self.add("waiting.test")
        self.config = self.write_config(timeout="1s")
        with self.dns.unreachable():
            started = time.monotonic()
            code, out, checks = self.verify("steady.test")
            elapsed = time.monotonic() - started
            # Status kept, but the exit says DNS did not answer (7).
            self.assertEqual((code, out["status"]), (7, "verified"))
            for name in [n for n in checks if n.startswith("dkim:")] + ["spf", "dmarc"]:
                self.assertEqual(checks[name]["status"], "error", checks[name])
                self.assertIn("nothing was concluded", checks[name]["hint"])
            # Queries run concurrently: about one timeout, not one per query.
            self.assertLess(elapsed, 10.0)
            code, out, _ = self.verify("waiting.test")
            self.assertEqual((code, out["status"]), (7, "pending"))
        self.assertEqual(self.show("steady.test")["status"], "verified")
        self.assertTrue(pending)

    def test_dnssec_bogus_is_error_and_keeps_status(self):
        # A trust anchor for the root that the lab server cannot back up (it
        # refuses the root's DNSKEY): every answer is bogus. That says
        # nothing about the records, so the status must not move.
        self.verified_domain("signed.test")
        anchor = os.path.join(self.tmp, "root.ds")
        with open(anchor, "w") as f:
            f.write(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
        self.config = self.write_config(trust_anchor=anchor)
        code, out, checks = self.verify("signed.test")
        self.assertEqual((code, out["status"]), (7, "verified"))
        self.assertEqual(checks["spf"]["status"], "error")
        self.assertIn("bogus", checks["spf"]["found"])

    def test_rotation_pending_active_retiring(self):
        recs = self.verified_domain("rotate.test")
        old = self.dkim(recs)[0]["host"].split(".")[0]
        r = self.ctl("domain", "dkim", "rotate", "rotate.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        states = self.selector_states("rotate.test")
        new = [s for s in states if s != old][0]
        self.assertEqual(states, {old: "active", new: "pending"})
        # Not published yet: the old key keeps signing, domain stays verified.
        code, out, checks = self.verify("rotate.test")
        self.assertEqual((code, out["status"]), (0, "verified"))
        self.assertEqual(checks["dkim:" + new]["status"], "missing")
        self.assertFalse(checks["dkim:" + new]["required"])
        self.assertEqual(self.selector_states("rotate.test"), {old: "active", new: "pending"})
        # Published: the new one takes over, the old one stays published.
        new_rec = [x for x in self.dkim(self.records("rotate.test")) if x["host"].startswith(new + ".")][0]
        self.dns.add(new_rec["host"], "TXT", new_rec["strings"])
        self.dns.apply()
        code, out, _ = self.verify("rotate.test")
        self.assertEqual((code, out["status"]), (0, "verified"))
        self.assertEqual((out["activated"], out["retiring"]), ([new], [old]))
        self.assertEqual(self.selector_states("rotate.test"), {old: "retiring", new: "active"})
        # The retiring key is still listed for publishing until retired.
        hosts = [x["host"] for x in self.dkim(self.records("rotate.test"))]
        self.assertIn(old + "._domainkey.rotate.test", hosts)
        r = self.ctl("domain", "dkim", "retire", "rotate.test", old)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.selector_states("rotate.test"), {old: "retired", new: "active"})

    # --- --all ----------------------------------------------------------------
    def test_verify_all_and_quiet(self):
        self.verified_domain("fine.test")
        recs = self.add("broken.test")
        self.publish(recs, skip=("spf",))
        r = self.ctl("domain", "verify", "--all")
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("2 domains checked", r.stdout)
        self.assertIn("spf: publish TXT broken.test", r.stdout)
        r = self.ctl("domain", "verify", "--all", "--quiet")
        self.assertEqual(r.returncode, 7)
        self.assertEqual(r.stdout, "")
        self.assertIn("broken.test is pending: spf missing", r.stderr)
        self.assertNotIn("fine.test", r.stderr)
        # Fixed: --all --quiet is silent and exits 0.
        self.dns.add("broken.test", "TXT", "v=spf1 include:%s ~all" % RELAY_INCLUDE)
        self.dns.apply()
        r = self.ctl("domain", "verify", "--all", "--quiet")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_usage_errors(self):
        r = self.ctl("domain", "verify")
        self.assertEqual(r.returncode, 1)
        self.assertIn("DOMAIN or --all", r.stderr)
        r = self.ctl("domain", "verify", "unknown.test")
        self.assertEqual(r.returncode, 2)
        self.assertIn("DOMAIN_NOT_FOUND", r.stderr)


if __name__ == "__main__":
    unittest.main()
