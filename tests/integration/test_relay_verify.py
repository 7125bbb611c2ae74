"""`outpostctl relay verify` against a real DNS server (unbound) on 127.0.0.1.

The relay's own records (`outpostctl relay records --format json`: the SPF
record at relay.spf_include listing relay.ips, A/AAAA of the bounce host and
of the tracking host) are published in the lab's unbound, or left out or
broken, and the real outpostctl checks them through the same resolver as
`domain verify` (dns.upstream forwarding to the lab, libspf2 for SPF,
dns.trust_anchor for DNSSEC): exit 0 when every required record is right,
else 7, and under each check that is not right the record to publish.
"""

import json
import os
import subprocess
import time
import unittest

import lab

import verifylab
from verifylab import BOUNCE_HOST, RELAY_INCLUDE, RELAY_IPS, TRACK_HOST


def outpostctl():
    return os.path.join(lab.build_dir(), "outpostctl")


class RelayVerifyTest(unittest.TestCase):
    dns = None

    @classmethod
    def setUpClass(cls):
        cls.root = lab.tmpdir(None, "outpost-relay-verify-")
        cls.dns = lab.DnsServer(cls.root)
        cls.dns.add_zone("test")
        cls.dns.start()

    @classmethod
    def tearDownClass(cls):
        if cls.dns:
            cls.dns.stop()
        subprocess.run(["rm", "-rf", cls.root], check=False)

    def setUp(self):
        self.tmp = lab.tmpdir(self)
        self.config = self.write_config()
        self.recs = self.relay_records()
        self.assertEqual({r["purpose"] for r in self.recs}, {"relay-spf", "bounce-host", "tracking-host"})

    def tearDown(self):
        for host in (RELAY_INCLUDE, BOUNCE_HOST, TRACK_HOST):
            self.dns.remove(host)
        self.dns.apply()

    def write_config(self, trust_anchor=""):
        path = os.path.join(self.tmp, "outpost-%d.yaml" % time.monotonic_ns())
        return verifylab.write_config(path, self.tmp, self.dns.upstream, trust_anchor=trust_anchor)

    def ctl(self, *args):
        return subprocess.run([outpostctl(), "--config", self.config] + list(args),
                              capture_output=True, text=True, timeout=120)

    def relay_records(self):
        r = self.ctl("relay", "records", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def publish(self, skip=()):
        for rec in self.recs:
            if rec["purpose"] in skip or (rec["purpose"], rec["type"]) in skip:
                continue
            value = rec["strings"] if rec["type"] == "TXT" else rec["value"]
            self.dns.add(rec["host"], rec["type"], value)
        self.dns.apply()

    def verify(self):
        r = self.ctl("relay", "verify", "--json")
        self.assertIn(r.returncode, (0, 7), r.stderr)
        out = json.loads(r.stdout)
        self.assertEqual(out["verified"], r.returncode == 0)
        return r.returncode, {c["name"]: c for c in out["checks"]}

    def test_published_records_verify(self):
        self.publish()
        r = self.ctl("relay", "verify")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("relay relay.test: verified", r.stdout)
        self.assertRegex(r.stdout, r"(?m)^CHECK\s+STATUS\s+REQUIRED\s+HOST\s+FOUND")
        code, checks = self.verify()
        self.assertEqual(code, 0)
        self.assertEqual(set(checks), {"relay-spf", "bounce-host:A", "bounce-host:AAAA",
                                       "tracking-host:A", "tracking-host:AAAA"})
        for c in checks.values():
            self.assertEqual(c["status"], "ok", c)
        spf = checks["relay-spf"]
        self.assertTrue(spf["required"])
        self.assertEqual(spf["host"], RELAY_INCLUDE)
        for ip in RELAY_IPS:
            self.assertIn("%s: pass" % ip, spf["found"])
        self.assertTrue(checks["bounce-host:A"]["required"])
        self.assertFalse(checks["tracking-host:A"]["required"])
        # Quiet: nothing to say.
        r = self.ctl("relay", "verify", "--quiet")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_missing_spf_record_exits_7_and_says_what_to_publish(self):
        self.publish(skip=("relay-spf",))
        r = self.ctl("relay", "verify")
        self.assertEqual(r.returncode, 7, r.stdout + r.stderr)
        self.assertIn("relay relay.test: not verified", r.stdout)
        spf = [r for r in self.recs if r["purpose"] == "relay-spf"][0]
        self.assertIn('-> publish TXT %s "%s"' % (RELAY_INCLUDE, spf["value"]), r.stdout)
        code, checks = self.verify()
        self.assertEqual(checks["relay-spf"]["status"], "missing")
        self.assertEqual(checks["bounce-host:A"]["status"], "ok")
        r = self.ctl("relay", "verify", "--quiet")
        self.assertEqual(r.returncode, 7)
        self.assertEqual(r.stdout, "")
        self.assertIn("outpostctl: relay relay.test is not verified: relay-spf missing: publish TXT", r.stderr)

    def test_spf_not_authorizing_every_address_is_a_mismatch(self):
        self.publish(skip=("relay-spf",))
        self.dns.add(RELAY_INCLUDE, "TXT", "v=spf1 ip4:192.0.2.10 -all")
        self.dns.apply()
        code, checks = self.verify()
        self.assertEqual(code, 7)
        spf = checks["relay-spf"]
        self.assertEqual(spf["status"], "mismatch", spf)
        self.assertIn("192.0.2.10: pass", spf["found"])
        self.assertIn("2001:db8::10: fail", spf["found"])
        self.assertIn("does not authorize every address of relay.ips", spf["hint"])

    def test_two_spf_records_are_a_mismatch(self):
        self.publish()
        self.dns.add(RELAY_INCLUDE, "TXT", "v=spf1 ip4:198.51.100.1 -all")
        self.dns.apply()
        code, checks = self.verify()
        self.assertEqual(code, 7)
        self.assertEqual(checks["relay-spf"]["status"], "mismatch")
        self.assertIn("2 v=spf1 records", checks["relay-spf"]["hint"])

    def test_bounce_host_address_missing_or_wrong(self):
        self.publish(skip=(("bounce-host", "AAAA"),))
        code, checks = self.verify()
        self.assertEqual(code, 7)
        self.assertEqual(checks["bounce-host:AAAA"]["status"], "missing")
        self.assertIn("publish AAAA %s 2001:db8::10" % BOUNCE_HOST, checks["bounce-host:AAAA"]["hint"])
        self.dns.add(BOUNCE_HOST, "AAAA", "2001:db8::99")
        self.dns.apply()
        code, checks = self.verify()
        self.assertEqual(code, 7)
        self.assertEqual(checks["bounce-host:AAAA"]["status"], "mismatch")
        self.assertIn("2001:db8::99", checks["bounce-host:AAAA"]["found"])

    def test_tracking_host_is_optional(self):
        self.publish(skip=("tracking-host",))
        code, checks = self.verify()
        self.assertEqual(code, 0)
        t = checks["tracking-host:A"]
        self.assertEqual(t["status"], "missing")
        self.assertFalse(t["required"])
        self.assertIn("publish A %s 192.0.2.10 (optional:" % TRACK_HOST, t["hint"])

    def test_dns_failure_is_error_not_a_verdict(self):
        # A trust anchor the lab server cannot back up: every answer is bogus,
        # so nothing is concluded about any record; not verified (exit 7).
        self.publish()
        anchor = os.path.join(self.tmp, "root.ds")
        with open(anchor, "w") as f:
            f.write(". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n")
        self.config = self.write_config(trust_anchor=anchor)
        code, checks = self.verify()
        self.assertEqual(code, 7)
        spf = checks["relay-spf"]
        self.assertEqual(spf["status"], "error", spf)
        self.assertEqual(spf["dnssec"], "bogus")
        self.assertIn("bogus", spf["found"])
        self.assertIn("nothing was concluded", spf["hint"])
        self.assertIn("outpostctl relay verify", spf["hint"])

    def test_unreachable_server_is_error(self):
        self.publish()
        path = os.path.join(self.tmp, "down.yaml")
        verifylab.write_config(path, self.tmp, "127.0.0.1@%d" % lab.free_port(), timeout="500ms",
                               deadline="5s")
        r = subprocess.run([outpostctl(), "--config", path, "relay", "verify", "--json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 7, r.stderr)
        checks = {c["name"]: c for c in json.loads(r.stdout)["checks"]}
        self.assertEqual(checks["relay-spf"]["status"], "error")
        self.assertEqual(checks["bounce-host:A"]["status"], "error")


if __name__ == "__main__":
    unittest.main()
