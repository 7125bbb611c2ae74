#!/bin/bash
# chroot_install.sh - install the built outpost .deb in a fresh Debian 12
# (bookworm, minbase) chroot the way an administrator would, and check it.
# Run by hand as root (not in CTest: debootstrap downloads ~100 MB and takes
# minutes):
#
#   OUTPOST_PACKAGE_KEEP=/var/tmp/outpost-deb ctest -R package.deb   # or:
#   dpkg-buildpackage -us -uc -b                                     # in a copy
#   tests/package/chroot_install.sh /var/tmp/outpost-deb/outpost_*.deb [DIR]
#
# DIR (default /var/tmp/outpost-chroot) is debootstrapped once and reused;
# delete it for a fresh start. The mirror is apt's (deb.debian.org, or
# $OUTPOST_MIRROR). Only /proc is mounted into the chroot, and unmounted at
# the end. Checks: `apt-get install ./outpost_*.deb` succeeds; the users
# outpost and outpost-web exist (outpost-web in group outpost);
# /var/lib/outpost belongs to outpost; the units are in /lib/systemd/system
# and disabled; `man outpostctl` renders; `systemd-analyze verify` accepts
# the units; `outpostctl config check` on the shipped example names every
# setting still at the example's placeholder (EXAMPLE_VALUE) and what to set.
set -euo pipefail

deb=${1:?usage: chroot_install.sh OUTPOST_DEB [DIR]}
deb=$(realpath "$deb")
dir=${2:-/var/tmp/outpost-chroot}
mirror=${OUTPOST_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "chroot_install.sh: run as root (debootstrap, chroot)" >&2; exit 1; }
[ -f "$deb" ] || { echo "chroot_install.sh: no such package: $deb" >&2; exit 1; }

failures=0
check() {  # check DESCRIPTION COMMAND...: run in the chroot, report
  local what=$1; shift
  if out=$(chroot "$dir" "$@" 2>&1); then
    echo "ok:   $what"
  else
    echo "FAIL: $what"; failures=$((failures + 1))
  fi
  [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /' | head -40
}

if [ ! -x "$dir/usr/bin/apt-get" ]; then
  command -v debootstrap >/dev/null ||
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap
  echo "== debootstrap bookworm (minbase) into $dir"
  t0=$(date +%s)
  timeout 1200 debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
    { tail -20 "$dir.debootstrap.log"; echo "chroot_install.sh: debootstrap failed" >&2; exit 1; }
  echo "   done in $(( $(date +%s) - t0 )) s"
fi

mount -t proc proc "$dir/proc"
trap 'umount "$dir/proc" 2>/dev/null || umount -l "$dir/proc"' EXIT
cp /etc/resolv.conf "$dir/etc/resolv.conf"
# No daemon may start inside the chroot (invoke-rc.d asks this).
printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
chmod 0755 "$dir/usr/sbin/policy-rc.d"
rm -f "$dir"/tmp/outpost_*.deb
cp "$deb" "$dir/tmp/"
name=$(basename "$deb")

echo "== apt-get install ./$name"
t0=$(date +%s)
chroot "$dir" apt-get -qq update
if ! (cd "$dir/tmp" && chroot "$dir" sh -c "cd /tmp && DEBIAN_FRONTEND=noninteractive timeout 900 \
      apt-get install -y -q --no-install-recommends ./$name man-db" >"$dir.apt.log" 2>&1); then
  tail -30 "$dir.apt.log"; echo "FAIL: apt-get install ./$name"; exit 1
fi
grep -E "^(Setting up|Creating|Created)" "$dir.apt.log" | grep -iE "outpost|systemd |man-db" | sed 's/^/      /'
echo "ok:   apt-get install ./$name ($(( $(date +%s) - t0 )) s)"

check "user outpost exists"             getent passwd outpost
check "user outpost-web exists"         getent passwd outpost-web
check "outpost-web is in group outpost" sh -c 'id -nG outpost-web | grep -qw outpost && id outpost-web'
check "/var/lib/outpost is outpost's, 0750; keys/ 0700" sh -c \
  'stat -c "%U:%G %a %n" /var/lib/outpost /var/lib/outpost/keys;
   [ "$(stat -c %U:%G:%a /var/lib/outpost)" = outpost:outpost:750 ] &&
   [ "$(stat -c %U:%G:%a /var/lib/outpost/keys)" = outpost:outpost:700 ]'
check "programs installed"              sh -c 'ls -l /usr/sbin/outpost-milter /usr/sbin/outpost-trackd /usr/bin/outpostctl'
check "units in /lib/systemd/system"    sh -c 'ls /lib/systemd/system/outpost-*'
check "units installed disabled"        sh -c \
  'for u in outpost-milter.service outpost-trackd.service outpost-verify.timer; do
     s=$(systemctl is-enabled $u 2>&1 || true); echo "$u: $s"; [ "$s" = disabled ] || exit 1; done'
check "man outpostctl renders"          sh -c \
  'man -P cat outpostctl 2>&1 >/tmp/man.txt; head -12 /tmp/man.txt; grep -q outpostctl /tmp/man.txt'
check "man 8 outpost-milter, outpost-trackd, 5 outpost.yaml render" sh -c \
  'for p in "8 outpost-milter" "8 outpost-trackd" "5 outpost.yaml"; do
     man -P cat $p >/dev/null 2>/tmp/man.err || { echo "man $p:"; cat /tmp/man.err; exit 1; }; done'
check "systemd-analyze verify accepts the units" sh -c \
  'out=$(systemd-analyze verify --man=no /lib/systemd/system/outpost-milter.service \
     /lib/systemd/system/outpost-trackd.service /lib/systemd/system/outpost-verify.service \
     /lib/systemd/system/outpost-verify.timer 2>&1); rc=$?; echo "$out"; [ $rc -eq 0 ] && [ -z "$out" ]'
check "outpostctl config check on the shipped example says what to set" sh -c \
  'out=$(outpostctl config check 2>&1); rc=$?; echo "exit $rc: $out"; echo "$out" | grep -q "EXAMPLE_VALUE: relay.hostname is still the example"'
check "outpost-milter --check-config says what is missing" sh -c \
  'out=$(outpost-milter --check-config 2>&1); rc=$?; echo "exit $rc: $out"; [ $rc -ne 0 ] && [ -n "$out" ]'

if [ "$failures" -ne 0 ]; then
  echo "chroot_install.sh: $failures check(s) failed"; exit 1
fi
echo "chroot_install.sh: all checks passed ($name in $dir)"
