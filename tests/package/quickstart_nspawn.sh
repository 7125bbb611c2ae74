#!/bin/bash
# quickstart_nspawn.sh - the README's "Quick start with a system Postfix",
# followed as written on a fresh Debian 12, and checked.
#
#   tests/package/quickstart_nspawn.sh OUTPOST_DEB [DIR]
#
# Run by hand as root (not in CTest: debootstrap downloads ~150 MB). DIR
# (default /var/tmp/outpost-quickstart) is debootstrapped afresh (minbase +
# systemd) and booted with systemd-nspawn (host network: everything the
# steps start listens on 127.0.0.1, ports 25, 8080 and 5399 must be free).
# Inside, as an administrator would: apt-get install postfix ("Internet
# Site") and the .deb; then the quick start's steps 1-8. DNS: the records
# outpostctl prints are published in a stand-in for the public DNS, unbound
# on 127.0.0.1@5399 (dns.upstream), because the container has no
# delegation of its own. The mail goes to a local mailbox
# (root@example.org, example.org in mydestination) and is checked with
# dkimpy and `outpostctl message verify`; the one-click unsubscribe is
# POSTed to outpost-trackd on 127.0.0.1:8080 and the next message to that
# recipient must be refused. The container is stopped at the end.
set -euo pipefail

deb=$(realpath "${1:?usage: quickstart_nspawn.sh OUTPOST_DEB [DIR]}")
dir=${2:-/var/tmp/outpost-quickstart}
mirror=${OUTPOST_MIRROR:-http://deb.debian.org/debian}
[ "$(id -u)" -eq 0 ] || { echo "quickstart_nspawn.sh: run as root" >&2; exit 1; }
for t in debootstrap systemd-nspawn; do
  command -v $t >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    debootstrap systemd-container
done

rm -rf "$dir"
echo "== debootstrap bookworm (minbase, systemd) into $dir"
timeout 1200 debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates \
  bookworm "$dir" "$mirror" >"$dir.debootstrap.log" 2>&1 ||
  { tail -20 "$dir.debootstrap.log"; echo "quickstart_nspawn.sh: debootstrap failed" >&2; exit 1; }
echo qs >"$dir/etc/hostname"
rm -f "$dir/etc/resolv.conf"; cp /etc/resolv.conf "$dir/etc/resolv.conf"
cp "$deb" "$dir/root/"
name=$(basename "$deb")

echo "== boot"
systemd-nspawn -D "$dir" -b --machine=outpost-qs --register=no --keep-unit >"$dir.boot.log" 2>&1 &
nspawn=$!
trap 'kill $nspawn 2>/dev/null; wait $nspawn 2>/dev/null || true' EXIT
pid1=""
for _ in $(seq 1 60); do
  pid1=$(pgrep -P $nspawn | head -1 || true)
  [ -n "$pid1" ] && nsenter -t "$pid1" -a systemctl is-system-running --wait >/dev/null 2>&1 && break
  sleep 1
done
[ -n "$pid1" ] || { cat "$dir.boot.log"; echo "quickstart_nspawn.sh: the container did not boot" >&2; exit 1; }
inside() { nsenter -t "$pid1" -a "$@"; }

failures=0
check() {  # check DESCRIPTION SHELL-SCRIPT: run in the container, report
  local what=$1; shift
  if out=$(inside sh -c "$1" 2>&1); then echo "ok:   $what"; else echo "FAIL: $what"; failures=$((failures + 1)); fi
  [ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/      /' | head -30
}

echo "== install Postfix and the package"
inside sh -c 'echo "postfix postfix/main_mailer_type select Internet Site" | debconf-set-selections
  echo "postfix postfix/mailname string mx1.outpost-qs.test" | debconf-set-selections
  apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    postfix unbound python3-dkim python3-dnspython swaks man-db '"/root/$name"' >/root/apt.log 2>&1 ||
    { tail -20 /root/apt.log; exit 1; }
  systemctl disable --now unbound >/dev/null 2>&1 || true'

# The stand-in public DNS, and a helper that publishes BIND lines in it.
inside sh -c 'mkdir -p /srv/pubdns && : >/srv/pubdns/zone.conf && cat >/srv/pubdns/unbound.conf <<EOF
server:
  interface: 127.0.0.1@5399
  do-daemonize: no
  username: ""
  chroot: ""
  directory: /srv/pubdns
  pidfile: ""
  do-ip6: no
  local-zone: "." refuse
  local-zone: "example.com." static
  local-zone: "outpost-qs.test." static
  include: /srv/pubdns/zone.conf
remote-control:
  control-enable: yes
  control-interface: 127.0.0.1
  control-port: 5398
  control-use-cert: no
EOF
systemd-run --unit=pubdns /usr/sbin/unbound -c /srv/pubdns/unbound.conf >/dev/null'
cat >"$dir/usr/local/bin/publish-bind" <<'EOF'
#!/usr/bin/python3
# BIND lines on stdin -> local-data of the stand-in public DNS.
import re, subprocess, sys
text = re.sub(r";[^\n\"]*(?=\n)", "", sys.stdin.read())
text = re.sub(r"\(\s*(.*?)\s*\)", lambda m: " ".join(m.group(1).split("\n")), text, flags=re.S)
with open("/srv/pubdns/zone.conf", "a") as out:
    for line in text.splitlines():
        if line.split():
            out.write("local-data: '%s'\n" % " ".join(line.split()))
subprocess.run(["unbound-control", "-s", "127.0.0.1@5398", "reload"], check=True, stdout=subprocess.DEVNULL)
EOF
chmod 755 "$dir/usr/local/bin/publish-bind"

echo "== quick start"
check "step 1: the shipped example names what to set" \
  'outpostctl config check 2>&1 | grep -c EXAMPLE_VALUE | grep -qx 6 && outpostctl config check 2>&1 | head -3'
inside sh -c 'cd /etc/outpost && sed -i \
  -e "s/^  hostname: relay.example.net/  hostname: mx1.outpost-qs.test/" \
  -e "s/^  ips: \[192.0.2.10, 2001:db8::10\]/  ips: [198.51.100.25]/" \
  -e "s/^  spf_include: _spf.relay.example.net/  spf_include: _spf.outpost-qs.test/" \
  -e "s/^  bounce_host: bounces.relay.example.net/  bounce_host: bounces.outpost-qs.test/" \
  -e "s/^  host: t.relay.example.net/  host: t.outpost-qs.test/" \
  -e "s/^  sandbox_recipient: sandbox@relay.example.net/  sandbox_recipient: sandbox@outpost-qs.test/" \
  -e "s/^  upstream: \"\"/  upstream: 127.0.0.1@5399/" \
  -e "s|^  listen: unix:/run/outpost/milter.sock|  listen: unix:/var/spool/postfix/outpost/milter.sock|" outpost.yaml'
check "step 1: configured, config check is clean" 'out=$(outpostctl config check 2>&1); echo "$out"; ! echo "$out" | grep -q EXAMPLE_VALUE'
check "step 1: the chroot socket directory, as tmpfiles.d/outpost.conf says" \
  'sed "s|^#d /var/spool/postfix/outpost|d /var/spool/postfix/outpost|" /usr/lib/tmpfiles.d/outpost.conf >/etc/tmpfiles.d/outpost.conf &&
   systemd-tmpfiles --create outpost.conf && mkdir -p /etc/systemd/system/outpost-milter.service.d &&
   printf "[Service]\nReadWritePaths=/var/spool/postfix/outpost\n" >/etc/systemd/system/outpost-milter.service.d/override.conf &&
   systemctl daemon-reload && ls -ld /var/spool/postfix/outpost'
check "step 2: tracking init" 'outpostctl tracking init'
check "step 3: relay records published, relay verify" \
  'outpostctl relay records --format bind | publish-bind && outpostctl relay verify'
check "step 3: domain add, records published, domain verify says verified" \
  'outpostctl domain add example.com >/dev/null && outpostctl domain records example.com --format bind | publish-bind &&
   outpostctl domain verify example.com | head -1 | grep "verified"'
check "step 4: key add (--cidr)" 'outpostctl key add app1 --cidr 127.0.0.1/32 | head -6'
check "step 5: --check-config, enable --now" \
  'outpost-milter --check-config && systemctl enable --now outpost-milter 2>&1 && sleep 1 &&
   systemctl is-active outpost-milter && ls -l /var/spool/postfix/outpost/milter.sock'
check "step 6: main.cf.fragment appended, postfix reload" \
  'cat /usr/share/doc/outpost/postfix/main.cf.fragment >>/etc/postfix/main.cf &&
   postconf -e "mydestination = \$myhostname, example.org, localhost" && postfix check && postfix reload'
check "step 7: a message from example.com is accepted" \
  'swaks --server 127.0.0.1:25 --from app@example.com --to root@example.org --header "From: Example <news@example.com>" \
     --header "Subject: quick start" --body "Hello from the quick start." 2>&1 | grep "^<-  250 2.0.0 Ok: queued"'
sleep 2
check "step 7: delivered signed, with List-Unsubscribe; outpost's line in the journal" \
  'grep -q "^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com;" /var/mail/root &&
   grep -q "^List-Unsubscribe: <https://track.example.com/u/" /var/mail/root &&
   journalctl -t outpost-milter --no-pager | grep "decision=accept domain=example.com" | tail -1'
check "step 7: dkimpy verifies it" \
  'python3 -c "
import dkim, dns.resolver, mailbox
r = dns.resolver.Resolver(configure=False); r.nameservers = [\"127.0.0.1\"]; r.port = 5399
f = lambda n, timeout=5: b\"\".join(r.resolve(n.decode() if isinstance(n, bytes) else n, \"TXT\")[0].strings)
m = list(mailbox.mbox(\"/var/mail/root\"))[-1]
data = m.as_bytes().replace(b\"\r\n\", b\"\n\").replace(b\"\n\", b\"\r\n\")
assert dkim.verify(data, dnsfunc=f), \"dkim=fail\"; print(\"dkimpy: dkim=pass\")"'
check "step 7: outpostctl message verify says pass" \
  'python3 -c "import mailbox; open(\"/root/last.eml\", \"wb\").write(list(mailbox.mbox(\"/var/mail/root\"))[-1].as_bytes())" &&
   outpostctl message verify /root/last.eml'
check "step 8: outpost-trackd enabled and running as outpost-web" \
  'systemctl enable --now outpost-trackd 2>&1 && sleep 1 && systemctl is-active outpost-trackd &&
   ps -o user= -C outpost-trackd'
check "step 8: one-click unsubscribe POST, then the recipient is refused" \
  'python3 -c "
import mailbox, re, urllib.request
m = list(mailbox.mbox(\"/var/mail/root\"))[-1]
url = re.search(r\"<(https://[^>]+)>\", m[\"List-Unsubscribe\"]).group(1)
req = urllib.request.Request(\"http://127.0.0.1:8080/\" + url.split(\"/\", 3)[3], data=b\"List-Unsubscribe=One-Click\",
    headers={\"Host\": url.split(\"/\")[2], \"Content-Type\": \"application/x-www-form-urlencoded\"})
print(\"POST one-click:\", urllib.request.urlopen(req, timeout=5).status)" &&
   outpostctl suppression list example.com | grep "root@example.org.*unsubscribe" &&
   swaks --server 127.0.0.1:25 --from app@example.com --to root@example.org --header "From: news@example.com" \
     --body again 2>&1 | grep "^<\*\* 550 5.7.1 ALL_RECIPIENTS_SUPPRESSED"'
check "systemctl reload outpost-milter reloads" \
  'systemctl reload outpost-milter && sleep 1 && journalctl -t outpost-milter --no-pager | grep -c "reloaded configuration"'

if [ "$failures" -ne 0 ]; then echo "quickstart_nspawn.sh: $failures check(s) failed"; exit 1; fi
echo "quickstart_nspawn.sh: the quick start works as written ($name in $dir)"
