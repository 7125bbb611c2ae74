#!/usr/bin/python3
"""`cmake --install` of a build tree: with DESTDIR and --prefix /usr the
files land where the Debian package puts them (/etc/outpost, /lib/systemd/
system, /usr/...); with --prefix P (no DESTDIR) nothing goes outside P.

usage: test_install.py BUILD_DIR SOURCE_DIR   (ctest runs it: package.install)
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expected  # noqa: E402


def installed(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def install(build, prefix, destdir=None):
    env = dict(os.environ)
    env.pop("DESTDIR", None)
    if destdir:
        env["DESTDIR"] = destdir
    r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                       env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        sys.exit("FAIL: cmake --install --prefix %s exited %d:\n%s%s"
                 % (prefix, r.returncode, r.stdout, r.stderr))


def main():
    build, source = sys.argv[1], sys.argv[2]
    failures = []
    man_have, man_missing = expected.man_sources(source)
    for page in man_missing:
        failures.append("man/%s does not exist in the source tree: the package must carry "
                        "%s (write it, troff)" % (page, page))
    want = set(expected.FILES) | {expected.man_path(p) for p in man_have}
    if not os.path.exists(os.path.join(build, "outpost-milter")):
        want.discard("usr/sbin/outpost-milter")
        failures.append("%s/outpost-milter was not built" % build)

    with tempfile.TemporaryDirectory(prefix="outpost-install-") as tmp:
        # 1. DESTDIR + --prefix /usr: the package's layout, exactly.
        root = os.path.join(tmp, "root")
        install(build, "/usr", destdir=root)
        got = installed(root)
        for p in sorted(want - got):
            failures.append("DESTDIR install: %s missing" % p)
        for p in sorted(got - want):
            failures.append("DESTDIR install: unexpected %s" % p)
        for p in expected.PROGRAMS:
            f = os.path.join(root, p)
            if os.path.exists(f) and not os.access(f, os.X_OK):
                failures.append("%s is not executable" % p)
        # The conffile is the example, byte for byte.
        conf = os.path.join(root, expected.CONFIG)
        if os.path.exists(conf):
            with open(conf, "rb") as a, open(os.path.join(source, "config/outpost.example.yaml"), "rb") as b:
                if a.read() != b.read():
                    failures.append("%s differs from config/outpost.example.yaml" % expected.CONFIG)

        # 2. --prefix P, no DESTDIR: everything under P, etc/ and units too.
        prefix = os.path.join(tmp, "prefix")
        install(build, prefix)
        got = installed(prefix)
        for p in ("etc/outpost/outpost.yaml", "lib/systemd/system/outpost-milter.service",
                  "bin/outpostctl", "sbin/outpost-trackd", "lib/sysusers.d/outpost.conf",
                  "share/doc/outpost/postfix/main.cf.fragment"):
            if p not in got:
                failures.append("--prefix install: %s missing under the prefix" % p)
        for p in got:
            if p.startswith("usr/"):
                failures.append("--prefix install: %s has a /usr inside the prefix" % p)
        print("DESTDIR install: %d files; --prefix install: %d files" % (len(installed(root)), len(got)))

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        return 1
    print("ok: %d expected files installed, man pages: %s" % (len(want), ", ".join(man_have)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
