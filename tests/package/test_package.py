#!/usr/bin/python3
"""Build the Debian package from a copy of the source tree and check it.

  1. copies the tree (git ls-files: tracked and untracked, not ignored) to a
     temporary directory and runs `dpkg-buildpackage -us -uc -b` there
     (DEB_BUILD_OPTIONS="nocheck parallel=2");
  2. the build wrote nothing outside debian/ and obj-*;
  3. `dpkg-deb -c`: programs, the four manual pages, units, sysusers.d and
     tmpfiles.d files, the conffile, the example and the contrib fragments;
  4. `dpkg-deb -I`: the maintainer scripts, which create the users and the
     store directory and neither enable nor start a unit;
  5. `lintian --fail-on error` on the .changes;
  6. `systemd-analyze verify --root=` on the units of the unpacked .deb.

usage: test_package.py SOURCE_DIR   (ctest: package.deb, label "package")
Set OUTPOST_PACKAGE_KEEP=DIR to keep the build (the .deb for
tests/package/chroot_install.sh) in DIR.
"""
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expected  # noqa: E402

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


def run(cmd, timeout, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def tree_digest(top):
    """path -> sha256 of every file under top (symlinks by target)."""
    out = {}
    for d, dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, top)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            else:
                with open(p, "rb") as fh:
                    out[rel] = hashlib.sha256(fh.read()).hexdigest()
    return out


def copy_tree(source, dest):
    r = run(["git", "-C", source, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], 60)
    if r.returncode != 0:
        sys.exit("FAIL: git ls-files in %s: %s" % (source, r.stderr))
    n = 0
    for rel in r.stdout.split("\0"):
        src = os.path.join(source, rel)
        if not rel or not os.path.lexists(src):
            continue  # deleted in the work tree
        if rel.startswith("debian/") and os.path.basename(rel) in ("files", "debhelper-build-stamp"):
            continue
        os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
        shutil.copy2(src, os.path.join(dest, rel), follow_symlinks=False)
        n += 1
    return n


def main():
    source = os.path.abspath(sys.argv[1])
    for tool in ("dpkg-buildpackage", "dh", "lintian", "fakeroot", "systemd-analyze"):
        if not shutil.which(tool):
            sys.exit("FAIL: %s is not installed (./dev test installs the package tools)" % tool)
    keep = os.environ.get("OUTPOST_PACKAGE_KEEP")
    tmp = tempfile.mkdtemp(prefix="outpost-package-")
    try:
        return check(source, tmp, keep)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check(source, tmp, keep):
    top = os.path.join(tmp, "outpost")
    n = copy_tree(source, top)
    before = tree_digest(top)
    print("copied %d files to %s" % (n, top), flush=True)

    # 1. Build.
    env = dict(os.environ, DEB_BUILD_OPTIONS="nocheck parallel=2", LC_ALL="C.UTF-8")
    t0 = time.monotonic()
    r = run(["dpkg-buildpackage", "-us", "-uc", "-b"], 1400, cwd=top, env=env)
    secs = time.monotonic() - t0
    with open(os.path.join(tmp, "build.log"), "w") as fh:
        fh.write(r.stdout + r.stderr)
    print("dpkg-buildpackage: exit %d after %.0f s" % (r.returncode, secs), flush=True)
    if r.returncode != 0:
        print((r.stdout + r.stderr)[-6000:])
        fail("dpkg-buildpackage -us -uc -b exited %d (log above)" % r.returncode)
        return 1
    debs = sorted(f for f in os.listdir(tmp) if re.match(r"outpost_.*\.deb$", f))
    changes = sorted(f for f in os.listdir(tmp) if f.endswith(".changes"))
    if len(debs) != 1 or len(changes) != 1:
        fail("expected one outpost_*.deb and one .changes in %s, found %s" % (tmp, os.listdir(tmp)))
        return 1
    deb = os.path.join(tmp, debs[0])
    if keep:
        os.makedirs(keep, exist_ok=True)
        for f in os.listdir(tmp):
            if f.startswith("outpost_"):
                shutil.copy2(os.path.join(tmp, f), keep)
        print("kept %s in %s" % (debs[0], keep))

    # 2. Nothing written outside debian/ and obj-*.
    after = tree_digest(top)
    for rel in sorted(set(before) | set(after)):
        if rel.startswith("debian/") or rel.startswith("obj-"):
            continue
        if before.get(rel) != after.get(rel):
            fail("the package build %s %s (outside debian/ and obj-*)"
                 % ("created" if rel not in before else "changed" if rel in after else "removed", rel))

    # 3. Contents.
    r = run(["dpkg-deb", "-c", deb], 60)
    paths = set()
    for line in r.stdout.splitlines():
        name = line.split(None, 5)[5].split(" -> ")[0]
        paths.add(name[2:] if name.startswith("./") else name)
    for p in expected.FILES:
        if p not in paths:
            fail("%s: %s missing" % (debs[0], p))
    _, man_missing = expected.man_sources(source)
    for page in expected.MAN_PAGES:
        gz = expected.man_path(page) + ".gz"
        if gz not in paths:
            why = " (man/%s does not exist in the source tree yet)" % page if page in man_missing else ""
            fail("%s: manual page %s missing%s" % (debs[0], gz, why))
    doc_changelog = expected.DOC + "/changelog.gz"
    for p in (expected.DOC + "/copyright", doc_changelog):
        if p not in paths:
            fail("%s: %s missing" % (debs[0], p))

    # 4. Maintainer scripts.
    r = run(["dpkg-deb", "-I", deb], 60)
    info = r.stdout
    print(info)
    for script in ("postinst", "postrm", "prerm", "conffiles"):
        if not re.search(r"^\s+\d+ bytes,\s+\d+ lines\s+\*?\s*%s\b" % script, info, re.M):
            fail("dpkg-deb -I: no %s" % script)
    ctl = os.path.join(tmp, "control")
    run(["dpkg-deb", "-e", deb, ctl], 60)
    def read(name):
        p = os.path.join(ctl, name)
        return open(p).read() if os.path.exists(p) else ""
    postinst = read("postinst")
    if "systemd-sysusers" not in postinst or "outpost.conf" not in postinst:
        fail("postinst does not run systemd-sysusers outpost.conf (the users outpost, outpost-web)")
    if "systemd-tmpfiles" not in postinst:
        fail("postinst does not run systemd-tmpfiles --create (/var/lib/outpost)")
    if postinst.find("systemd-sysusers") > postinst.find("systemd-tmpfiles") >= 0:
        fail("postinst creates /var/lib/outpost (tmpfiles) before the users (sysusers)")
    # Units stay off until the administrator enables them: postinst only
    # re-enables what was enabled before, only try-restarts what runs, and
    # nothing stops the units for good on an upgrade.
    lines = postinst.splitlines()
    for i, line in enumerate(lines):
        if re.search(r"deb-systemd-helper\s+enable", line) and \
                not any("was-enabled" in l for l in lines[max(0, i - 3):i]):
            fail("postinst enables a unit that was not enabled: " + line.strip())
        if re.search(r"deb-systemd-invoke\s+(start|restart)\b", line):
            fail("postinst starts a unit: " + line.strip())
    if "try-restart" not in postinst:
        fail("postinst does not try-restart running units after an upgrade")
    if re.search(r"deb-systemd-invoke\s+stop", read("preinst")):
        fail("preinst stops the units on upgrade (and nothing starts them again)")
    if not re.search(r"remove.*\n.*deb-systemd-invoke stop", read("prerm")):
        fail("prerm does not stop the units on removal")
    if "/etc/outpost/outpost.yaml" not in read("conffiles"):
        fail("/etc/outpost/outpost.yaml is not a conffile")
    deps = re.search(r"^ Depends: (.*)$", info, re.M)
    for lib in ("libmilter", "libopendkim", "liblmdb", "libunbound"):
        if not deps or lib not in deps.group(1):
            fail("Depends lacks %s (${shlibs:Depends}): %s" % (lib, deps.group(1) if deps else "none"))

    # 5. lintian.
    t1 = time.monotonic()
    r = run(["lintian", "--fail-on", "error", "--tag-display-limit", "0", os.path.join(tmp, changes[0])], 600)
    print("lintian (%.0f s), exit %d:\n%s%s" % (time.monotonic() - t1, r.returncode, r.stdout, r.stderr))
    if r.returncode != 0:
        fail("lintian --fail-on error exited %d" % r.returncode)

    # 6. systemd-analyze verify on the unpacked package.
    root = os.path.join(tmp, "root")
    run(["dpkg-deb", "-x", deb, root], 120)
    # Installed programs must not point into the tree they were built from.
    for p in expected.PROGRAMS:
        f = os.path.join(root, p)
        if os.path.exists(f):
            with open(f, "rb") as fh:
                if top.encode() in fh.read():
                    fail("%s contains the build tree's path %s" % (p, top))
    # verify --root resolves everything in the root: the units our units
    # name (sysinit.target, ...) and ExecReload's /bin/kill come from this
    # system, without overwriting what the package holds.
    r = run(["cp", "-a", "-n", "/lib/systemd/system/.", os.path.join(root, expected.UNIT_DIR)], 60)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    if not os.path.exists(os.path.join(root, "bin/kill")):
        shutil.copy2(os.path.realpath("/bin/kill"), os.path.join(root, "bin/kill"))
    units = [os.path.join(root, expected.UNIT_DIR, u) for u in expected.UNITS]
    r = run(["systemd-analyze", "verify", "--root=" + root, "--man=no"] + units, 120)
    out = (r.stdout + r.stderr).strip()
    print("systemd-analyze verify --root: exit %d%s" % (r.returncode, (":\n" + out) if out else ""))
    if r.returncode != 0 or out:
        fail("systemd-analyze verify: " + (out or "exit %d" % r.returncode))

    print("package test: %.0f s in all (build %.0f s)" % (time.monotonic() - t0, secs))
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("ok: %s" % debs[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
