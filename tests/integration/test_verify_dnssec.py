"""DNSSEC status of `outpostctl domain verify` against really signed zones.

test_verify.py serves its records with unbound's local-data, which cannot
carry signatures, so it can only show the bogus case.  Here the test builds
real zones from what `outpostctl domain records --format bind` prints, signs
them with BIND's dnssec-keygen and dnssec-signzone (package bind9-utils) and
serves them as authoritative zones (unbound `auth-zone:`) on 127.0.0.1.
outpostctl forwards to that server (dns.upstream) and validates with a trust
anchor file (dns.trust_anchor) holding the zones' DS or DNSKEY records.

Zones served:

  signed.test      signed, anchored (DS)            -> every answer secure
                   (it also holds partial.signed.test's records, all but
                   DKIM and tracking: their absence is proven, secure)
  sub.signed.test  unsigned child of signed.test,   -> insecure (the parent's
                   delegated without DS                NSEC proves there is no DS)
  tampered.test    signed, anchored (DNSKEY); the DKIM TXT is replaced after
                   signing in the copy the test serves -> that answer bogus
  plain.test       unsigned, no anchor              -> insecure
  relay.test       unsigned: the relay's SPF include target

Each check carries the weakest DNSSEC state of the answers it read in its
`dnssec` field ("" without a trust anchor), and the `found` text of a
successful answer is tagged "[DNSSEC secure]" / "[DNSSEC insecure]"
(dns/verify.cpp); a bogus answer makes the look-up fail, so the check is
`error`, its `dnssec` is "bogus" and its `found` says why.
"""

import json
import os
import re
import shutil
import subprocess
import unittest

import lab

KEYGEN = "/usr/bin/dnssec-keygen"
SIGNZONE = "/usr/bin/dnssec-signzone"
DSFROMKEY = "/usr/bin/dnssec-dsfromkey"

import verifylab
from verifylab import BOUNCE_HOST, RELAY_INCLUDE, RELAY_IPS, TRACK_HOST  # noqa: F401

SIGNED, SUB, TAMPERED, PLAIN = "signed.test", "sub.signed.test", "tampered.test", "plain.test"
PARTIAL = "partial.signed.test"

DNSSEC_TAG = re.compile(r"\[DNSSEC (\w+)\]")


def outpostctl():
    return os.path.join(lab.build_dir(), "outpostctl")


def read(path):
    with open(path) as f:
        return f.read()


def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (" ".join(argv), r.returncode, r.stdout, r.stderr))
    return r.stdout


def zone_head(zone, ns_zone=None):
    """SOA and NS of `zone`; the name server's address lives in `ns_zone`
    (the zone itself when None)."""
    ns = "ns.%s." % (ns_zone or zone)
    lines = ["$TTL 60",
             "%s. 60 IN SOA %s hostmaster.%s. 1 60 60 600 60" % (zone, ns, zone),
             "%s. 60 IN NS %s" % (zone, ns)]
    if ns_zone is None:
        lines.append("%s 60 IN A 127.0.0.1" % ns)
    return "\n".join(lines) + "\n"


class AuthServer:
    """unbound on 127.0.0.1 answering only from auth-zone files (signed or
    not, served as they are, RRSIG and NSEC included for DO queries) and
    refusing everything else."""

    def __init__(self, root):
        self.dir = os.path.join(root, "auth")
        os.makedirs(self.dir)
        self.port = lab.free_port()
        self.control_port = lab.free_port()
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.zones = {}  # name -> zone file
        self.process = None

    @property
    def upstream(self):
        return "%s@%d" % (lab.LOOPBACK, self.port)

    def zone(self, name, path):
        self.zones[name] = path
        return self

    def start(self):
        conf = ["server:",
                "    verbosity: 1",
                "    num-threads: 1",
                "    interface: 127.0.0.1@%d" % self.port,
                "    port: %d" % self.port,
                "    do-ip4: yes",
                "    do-ip6: no",
                "    do-daemonize: no",
                '    username: ""',
                '    chroot: ""',
                '    directory: "%s"' % self.dir,
                '    pidfile: "%s/unbound.pid"' % self.dir,
                "    use-syslog: no",
                '    logfile: ""',
                "    access-control: 127.0.0.0/8 allow",
                '    module-config: "iterator"',
                "    so-reuseport: no",
                # Nothing is resolved from the internet: only the zones below.
                '    local-zone: "." refuse']
        conf += ['    local-zone: "%s." transparent' % z for z in self.zones]
        for z, path in self.zones.items():
            conf += ["auth-zone:",
                     '    name: "%s."' % z,
                     '    zonefile: "%s"' % path,
                     "    for-downstream: yes",
                     "    for-upstream: no",
                     "    fallback-enabled: no"]
        conf += ["remote-control:",
                 "    control-enable: yes",
                 "    control-interface: 127.0.0.1",
                 "    control-port: %d" % self.control_port,
                 "    control-use-cert: no"]
        with open(self.conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        run(["/usr/sbin/unbound-checkconf", self.conf])
        self.process = lab.Process([lab.UNBOUND, "-d", "-c", self.conf],
                                   os.path.join(self.dir, "unbound.log")).start()
        first = next(iter(self.zones))

        def serving():
            # Until unbound has bound its port, a query times out or is
            # refused: that means "not yet", not a failure.
            try:
                return self.query(first, "SOA", timeout=0.5).rcode() == 0
            except Exception:  # noqa: BLE001 - dns.exception.Timeout, OSError
                return False
        self.process.wait_ready(serving, 20.0, "unbound auth-zones on port %d" % self.port)
        return self

    def stop(self):
        if self.process is not None:
            self.process.stop()
            self.process = None

    def reload(self, zone):
        """Re-read `zone` from its file (unbound-control auth_zone_reload)."""
        out = run([lab.UNBOUND_CONTROL, "-c", self.conf, "auth_zone_reload", zone])
        if "ok" not in out:
            raise RuntimeError("auth_zone_reload %s: %s" % (zone, out))

    def query(self, name, rdtype, dnssec=True, timeout=2.0):
        """One DNS message from this server (DO bit set by default)."""
        import dns.message
        import dns.query
        q = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        return dns.query.udp(q, lab.LOOPBACK, port=self.port, timeout=timeout)

    def txt(self, name):
        import dns.rdatatype
        return [b"".join(rd.strings).decode() for rrset in self.query(name, "TXT").answer
                if rrset.rdtype == dns.rdatatype.TXT for rd in rrset]


class VerifyDnssecTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        for tool in (KEYGEN, SIGNZONE, DSFROMKEY):
            if not os.access(tool, os.X_OK):
                raise RuntimeError("%s is missing: install bind9-utils (./dev test does)" % tool)
        cls.root = lab.tmpdir(None, "outpost-dnssec-")
        cls.addClassCleanup(shutil.rmtree, cls.root, True)
        cls.dns = AuthServer(cls.root)
        cls.addClassCleanup(cls.dns.stop)
        cls.config = cls.write_config("anchored", os.path.join(cls.root, "anchors"))
        cls.plain_config = cls.write_config("unanchored", "")

        cls.records = {}
        for d in (SIGNED, SUB, TAMPERED, PLAIN, PARTIAL):
            run([outpostctl(), "--config", cls.config, "domain", "add", d])
            cls.records[d] = json.loads(run([outpostctl(), "--config", cls.config, "domain",
                                             "records", d, "--format", "json"]))

        def bind(d):
            return run([outpostctl(), "--config", cls.config, "domain", "records", d, "--format", "bind"])

        zdir = os.path.join(cls.root, "zones")
        os.makedirs(zdir)
        # signed.test holds partial.signed.test's records but its DKIM and
        # tracking ones, and delegates sub.signed.test without a DS record.
        partial = "".join(line + "\n" for line in bind(PARTIAL).splitlines()
                          if "._domainkey." not in line and not line.startswith("track."))
        signed_src = (zone_head(SIGNED) + bind(SIGNED) + partial +
                      "%s. 60 IN NS ns.%s.\n" % (SUB, SIGNED))
        cls.signed_key, cls.signed_file = cls.sign(zdir, SIGNED, signed_src)
        cls.tampered_key, cls.tampered_good = cls.sign(zdir, TAMPERED, zone_head(TAMPERED) + bind(TAMPERED))
        cls.tampered_served = os.path.join(zdir, "tampered.test.served")
        shutil.copyfile(cls.tampered_good, cls.tampered_served)
        unsigned = {}
        for z, src in ((SUB, zone_head(SUB, SIGNED) + bind(SUB)),
                       (PLAIN, zone_head(PLAIN) + bind(PLAIN)),
                       ("relay.test", zone_head("relay.test") +
                        '%s. 60 IN TXT "v=spf1 ip4:%s ip6:%s -all"\n' % ((RELAY_INCLUDE,) + tuple(RELAY_IPS)))):
            unsigned[z] = os.path.join(zdir, z + ".zone")
            with open(unsigned[z], "w") as f:
                f.write(src)

        # Trust anchors in both formats ub_ctx_add_ta_file reads: signed.test
        # by its DS, tampered.test by its DNSKEY.
        ds = run([DSFROMKEY, "-2", cls.signed_key + ".key"]).strip()
        dnskey = [line for line in read(cls.tampered_key + ".key").splitlines()
                  if line and not line.startswith(";")]
        with open(os.path.join(cls.root, "anchors"), "w") as f:
            f.write("\n".join([ds] + dnskey) + "\n")

        cls.dns.zone(SIGNED, cls.signed_file).zone(SUB, unsigned[SUB])
        cls.dns.zone(TAMPERED, cls.tampered_served).zone(PLAIN, unsigned[PLAIN])
        cls.dns.zone("relay.test", unsigned["relay.test"])
        cls.dns.start()

    @classmethod
    def sign(cls, zdir, zone, text):
        """Writes `text` as zone `zone`, signs it with a fresh ECDSA P-256 key
        (one key signs everything); returns (key path without suffix,
        signed file, one record per line)."""
        keys = os.path.join(zdir, "keys-" + zone)
        os.makedirs(keys)
        name = run([KEYGEN, "-q", "-K", keys, "-a", "ECDSAP256SHA256", "-f", "KSK", "-n", "ZONE",
                    zone]).strip()
        key = os.path.join(keys, name)
        src = os.path.join(zdir, zone + ".zone")
        with open(src, "w") as f:
            f.write(text + read(key + ".key"))
        out = os.path.join(zdir, zone + ".signed")
        run([SIGNZONE, "-q", "-z", "-O", "full", "-K", keys, "-d", zdir, "-o", zone, "-f", out, src, name])
        return key, out

    @classmethod
    def write_config(cls, tag, trust_anchor):
        path = os.path.join(cls.root, "outpost-%s.yaml" % tag)
        return verifylab.write_config(path, cls.root, cls.dns.upstream, deadline="20s",
                                      trust_anchor=trust_anchor)

    # --- helpers ------------------------------------------------------------
    def verify(self, domain, config=None):
        r = subprocess.run([outpostctl(), "--config", config or self.config, "domain", "verify",
                            domain, "--json"], capture_output=True, text=True, timeout=60)
        self.assertIn(r.returncode, (0, 7), r.stdout + r.stderr)
        out = json.loads(r.stdout)
        return r.returncode, out, {c["name"]: c for c in out["checks"]}

    def dkim_rec(self, domain):
        return [r for r in self.records[domain] if r["purpose"] == "dkim"][0]

    def dnssec_states(self, checks):
        """{check name: [DNSSEC states in its `found`]}"""
        return {n: DNSSEC_TAG.findall(c["found"]) for n, c in checks.items()}

    def serve_tampered(self, dkim_value):
        """Serves tampered.test's signed file with the DKIM TXT rdata replaced
        (its RRSIG kept), or the file as signed when dkim_value is None."""
        text = read(self.tampered_good)
        if dkim_value is not None:
            host = re.escape(self.dkim_rec(TAMPERED)["host"])
            text, n = re.subn(r"(?m)^(%s\.\s+\d+\s+IN\s+TXT\s+).*$" % host,
                              lambda m: m.group(1) + '"%s"' % dkim_value, text)
            self.assertEqual(n, 1, "the DKIM TXT line was not found in the signed zone")
        with open(self.tampered_served + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.tampered_served + ".tmp", self.tampered_served)
        self.dns.reload(TAMPERED)
        want = dkim_value if dkim_value is not None else self.dkim_rec(TAMPERED)["value"]
        lab.wait_until(lambda: self.dns.txt(self.dkim_rec(TAMPERED)["host"]) == [want], 10.0, 0.05,
                       "tampered.test to serve the new DKIM TXT")

    # --- the lab itself -----------------------------------------------------
    def test_server_serves_signatures_and_denials(self):
        import dns.rcode
        import dns.rdatatype as T
        r = self.dns.query(SIGNED, "DNSKEY")
        types = {(s.name.to_text(), s.rdtype, getattr(s, "covers", 0)) for s in r.answer}
        self.assertIn(("signed.test.", T.DNSKEY, 0), types)
        self.assertIn(("signed.test.", T.RRSIG, T.DNSKEY), types)
        self.assertTrue(r.flags & 0x0400, "answer is not authoritative")
        # A name that does not exist is denied with a signed NSEC.
        r = self.dns.query("nothing." + SIGNED, "TXT")
        self.assertEqual(r.rcode(), dns.rcode.NXDOMAIN)
        self.assertIn(T.NSEC, {s.rdtype for s in r.authority})
        # The DS of the insecure delegation is denied by the parent, signed.
        r = self.dns.query(SUB, "DS")
        self.assertEqual((r.rcode(), r.answer), (dns.rcode.NOERROR, []))
        self.assertIn((SUB + ".", T.NSEC), {(s.name.to_text(), s.rdtype) for s in r.authority})
        # The unsigned zone carries no signatures.
        r = self.dns.query(PLAIN, "TXT")
        self.assertTrue(r.answer)
        self.assertNotIn(T.RRSIG, {s.rdtype for s in r.answer})

    # --- secure -------------------------------------------------------------
    def test_signed_domain_verifies_and_reads_secure(self):
        code, out, checks = self.verify(SIGNED)
        self.assertEqual((code, out["status"]), (0, "verified"), checks)
        sel = self.dkim_rec(SIGNED)["host"].split(".")[0]
        self.assertEqual(set(checks), {"dkim:" + sel, "spf", "dmarc", "mailfrom", "tracking"})
        for name, c in checks.items():
            self.assertIn(c["status"], ("ok", "warn"), c)
        self.assertEqual(self.dnssec_states(checks), {
            "dkim:" + sel: ["secure"], "spf": ["secure"], "dmarc": ["secure"],
            # the MX carries no decoration; the SPF part of the check does
            "mailfrom": ["secure"], "tracking": ["secure"]})
        # The structured field says it for every check.
        self.assertEqual({n: c["dnssec"] for n, c in checks.items()},
                         {n: "secure" for n in checks})
        # The saved checks say the same.
        r = subprocess.run([outpostctl(), "--config", self.config, "domain", "show", SIGNED, "--json"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        saved = {c["name"]: c["found"] for c in json.loads(r.stdout)["checks"]}
        self.assertIn("[DNSSEC secure]", saved["dkim:" + sel])
        # The table shows it too.
        r = subprocess.run([outpostctl(), "--config", self.config, "domain", "verify", SIGNED],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        spf_line = [line for line in r.stdout.splitlines() if line.startswith("spf ")][0]
        self.assertIn("[DNSSEC secure]", spf_line)

    def test_without_trust_anchor_nothing_is_claimed(self):
        # Same signed data, no dns.trust_anchor: no validation, no DNSSEC tag.
        code, out, checks = self.verify(SIGNED, config=self.plain_config)
        self.assertEqual((code, out["status"]), (0, "verified"))
        self.assertTrue(all(c["status"] in ("ok", "warn") for c in checks.values()), checks)
        self.assertEqual({n: s for n, s in self.dnssec_states(checks).items() if s}, {})
        self.assertEqual({n: c["dnssec"] for n, c in checks.items() if c["dnssec"]}, {})

    def test_proven_absence_reads_secure(self):
        # partial.signed.test lacks its DKIM and tracking records; signed
        # NSEC records prove it, so "missing" is a secure finding.
        code, out, checks = self.verify(PARTIAL)
        sel = self.dkim_rec(PARTIAL)["host"].split(".")[0]
        self.assertEqual((code, out["status"]), (7, "pending"), checks)
        self.assertEqual(checks["dkim:" + sel]["status"], "missing", checks)
        self.assertIn("(nxdomain) [DNSSEC secure]", checks["dkim:" + sel]["found"])
        # (verify.cpp tags only the DKIM check's "missing" with the DNSSEC
        # state; the other checks' "missing" texts carry none.)
        self.assertEqual(checks["tracking"]["status"], "missing", checks)
        # The structured field carries the proof for every missing record.
        self.assertEqual(checks["dkim:" + sel]["dnssec"], "secure")
        self.assertEqual(checks["tracking"]["dnssec"], "secure")
        self.assertEqual(checks["spf"]["status"], "ok")
        self.assertEqual(self.dnssec_states(checks)["spf"], ["secure"])

    # --- insecure -----------------------------------------------------------
    def test_unsigned_child_of_anchored_zone_reads_insecure(self):
        code, out, checks = self.verify(SUB)
        self.assertEqual((code, out["status"]), (0, "verified"), checks)
        sel = self.dkim_rec(SUB)["host"].split(".")[0]
        self.assertEqual(self.dnssec_states(checks), {
            "dkim:" + sel: ["insecure"], "spf": ["insecure"], "dmarc": ["insecure"],
            "mailfrom": ["insecure"], "tracking": ["insecure"]})
        self.assertEqual({n: c["dnssec"] for n, c in checks.items()}, {n: "insecure" for n in checks})

    def test_zone_outside_the_anchors_reads_insecure(self):
        code, out, checks = self.verify(PLAIN)
        self.assertEqual((code, out["status"]), (0, "verified"), checks)
        states = self.dnssec_states(checks)
        self.assertEqual(set(s for v in states.values() for s in v), {"insecure"}, states)
        self.assertEqual(states["spf"], ["insecure"])

    # --- bogus --------------------------------------------------------------
    def test_record_changed_after_signing_is_bogus_and_moves_nothing(self):
        sel = self.dkim_rec(TAMPERED)["host"].split(".")[0]
        dkim = "dkim:" + sel
        # A well-formed DKIM record with another key, under the old RRSIG.
        forged = self.dkim_rec(PLAIN)["value"]
        self.assertNotEqual(forged, self.dkim_rec(TAMPERED)["value"])
        try:
            self.serve_tampered(forged)
            # Without validation it is simply the wrong key...
            code, out, checks = self.verify(TAMPERED, config=self.plain_config)
            self.assertEqual((code, out["status"], checks[dkim]["status"]), (7, "pending", "mismatch"))
            # ...with the anchor the answer is bogus: an error, not a finding;
            # the other RRsets of the zone still validate.
            code, out, checks = self.verify(TAMPERED)
            self.assertEqual((code, out["status"]), (7, "pending"), checks)
            self.assertEqual(checks[dkim]["status"], "error", checks[dkim])
            self.assertIn("bogus", checks[dkim]["found"])
            self.assertIn("nothing was concluded", checks[dkim]["hint"])
            self.assertEqual(checks[dkim]["dnssec"], "bogus")
            self.assertEqual(checks["spf"]["dnssec"], "secure")
            self.assertEqual(self.dnssec_states(checks)["spf"], ["secure"])
            self.assertEqual(checks["spf"]["status"], "ok")

            # As signed: verified, secure.
            self.serve_tampered(None)
            code, out, checks = self.verify(TAMPERED)
            self.assertEqual((code, out["status"]), (0, "verified"), checks)
            self.assertEqual(self.dnssec_states(checks)[dkim], ["secure"])

            # Tampered again: the bogus record neither degrades the domain.
            self.serve_tampered(forged)
            code, out, checks = self.verify(TAMPERED)
            self.assertEqual((code, out["status"], out["previous_status"]), (7, "verified", "verified"))
            self.assertEqual(checks[dkim]["status"], "error", checks[dkim])
            self.assertIn("bogus", checks[dkim]["found"])
        finally:
            self.serve_tampered(None)


if __name__ == "__main__":
    unittest.main()
