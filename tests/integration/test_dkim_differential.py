"""outpost's own DKIM signer against libopendkim, dkimpy and Mail::DKIM.

outpost-test-dkim-corpus (tests/tools/dkim_corpus.cpp) signs a corpus —
generated edge cases and the messages in tests/data/dkim/ — with outpost's
signer and with libopendkim, same RSA-2048 and Ed25519 keys, same headers,
same t=. RSA PKCS#1 v1.5 and Ed25519 signatures are deterministic, so the
two DKIM-Signature headers must be byte-identical, except where libopendkim
is known to depart from RFC 6376 (the tool's report names those cases and
why). Every message outpost signed is then verified by dkimpy (rsa-sha256
and ed25519-sha256) and by Mail::DKIM (rsa-sha256: Debian 12's Mail::DKIM
has no ed25519), both fetching the keys from unbound on 127.0.0.1.
"""
import os
import shutil
import subprocess
import unittest

import lab

TOOL = os.path.join(lab.build_dir(), "tests", "outpost-test-dkim-corpus")
EML_DIR = os.path.join(lab.source_dir(), "tests", "data", "dkim")

# Verifies every file named on the command line; prints "FILE RESULT" per
# signature (Mail::DKIM's result: pass, fail, invalid, none ...).
MAIL_DKIM = r"""
use strict; use warnings;
use Mail::DKIM::Verifier; use Net::DNS::Resolver;
my $port = shift @ARGV;
Mail::DKIM::DNS::resolver(Net::DNS::Resolver->new(
    nameservers => ['127.0.0.1'], port => $port, recurse => 1, retry => 1, udp_timeout => 3));
for my $file (@ARGV) {
    open(my $fh, '<:raw', $file) or die "$file: $!";
    my $v = Mail::DKIM::Verifier->new();
    local $/; my $data = <$fh>; close $fh;
    $v->PRINT($data); $v->CLOSE;
    my @sigs = $v->signatures;
    print "$file none\n" unless @sigs;
    print "$file ", $_->result, ($_->result_detail ? " (" . $_->result_detail . ")" : ""), "\n" for @sigs;
}
"""


class DkimDifferential(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = lab.tmpdir(prefix="outpost-dkim-corpus-")
        out = subprocess.run([TOOL, cls.tmp, EML_DIR], capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise AssertionError("outpost-test-dkim-corpus failed:\n" + out.stdout + out.stderr)
        cls.tool_output = out.stdout + out.stderr
        cls.rows = []
        with open(os.path.join(cls.tmp, "report.tsv")) as f:
            for line in f:
                name, alg, identical, chunking, expect, note = line.rstrip("\n").split("\t")
                cls.rows.append(dict(name=name, alg=alg, identical=identical == "1",
                                     chunking=chunking == "1", expect=expect, note=note))
        cls.dns = lab.DnsServer(cls.tmp).start()
        zones = set()
        with open(os.path.join(cls.tmp, "keys.tsv")) as f:
            for line in f:
                selector, domain, txt = line.rstrip("\n").split("\t")
                if domain not in zones:
                    cls.dns.add_zone(domain)
                    zones.add(domain)
                cls.dns.add("%s._domainkey.%s" % (selector, domain), "TXT", txt)
        cls.dns.apply()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, row, which):
        return os.path.join(self.tmp, "%s.%s.%s.eml" % (row["name"], row["alg"], which))

    def test_corpus_is_what_the_issue_asks(self):
        names = {r["name"] for r in self.rows}
        # generated edge cases and real-world messages, both algorithms each
        self.assertGreaterEqual(len([n for n in names if n.startswith("eml-")]), 5, names)
        for must in ("trailing-wsp", "blank-lines-at-end", "empty-body", "no-final-crlf",
                     "folded-headers", "eight-bit", "bare-cr", "one-megabyte", "repeated-headers"):
            self.assertIn(must, names)
        self.assertEqual(len(self.rows), 2 * len(names))

    def test_byte_identical_to_libopendkim(self):
        differ = [(r["name"], r["alg"]) for r in self.rows if r["expect"] == "same" and not r["identical"]]
        self.assertEqual(differ, [], self.tool_output)
        same = [r for r in self.rows if r["expect"] == "same"]
        self.assertGreaterEqual(len(same), 60)
        # the known departures of libopendkim really are departures
        rfc = [(r["name"], r["alg"]) for r in self.rows if r["expect"] == "rfc" and r["identical"]]
        self.assertEqual(rfc, [], "libopendkim agreed where it was expected to depart from the RFC")

    def test_chunk_sizes_do_not_matter(self):
        self.assertEqual([r["name"] for r in self.rows if not r["chunking"]], [])

    def test_dkimpy_passes_every_outpost_signature(self):
        failed = []
        for r in self.rows:
            with open(self.path(r, "own"), "rb") as f:
                res = lab.verify_dkim(f.read(), self.dns.port)
            if len(res) != 1 or not res[0].ok:
                failed.append((r["name"], r["alg"], [x.error for x in res]))
        self.assertEqual(failed, [])

    def test_dkimpy_fails_libopendkim_where_it_departs_from_the_rfc(self):
        rows = [r for r in self.rows if r["expect"] == "rfc"]
        self.assertGreaterEqual(len(rows), 4)
        for r in rows:
            with open(self.path(r, "ref"), "rb") as f:
                res = lab.verify_dkim(f.read(), self.dns.port)
            self.assertFalse(res and res[0].ok, "%s %s: %s" % (r["name"], r["alg"], r["note"]))

    def test_mail_dkim_passes_every_outpost_rsa_signature(self):
        rows = [r for r in self.rows if r["alg"] == "rsa"]
        files = [self.path(r, "own") for r in rows]
        out = subprocess.run(["perl", "-e", MAIL_DKIM, str(self.dns.port)] + files,
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        results = {}
        self.assertEqual(len(out.stdout.splitlines()), len(files), out.stdout)
        for line in out.stdout.splitlines():
            path, result = line.split(" ", 1)
            results[path] = result
        bad = {os.path.basename(p): results.get(p, "missing") for p in files
               if results.get(p, "missing").split(" ")[0] != "pass"}
        self.assertEqual(bad, {})


if __name__ == "__main__":
    unittest.main()
