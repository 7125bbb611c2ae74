"""A real Sendmail 8.17 for outpost's integration tests, unpacked privately.

Debian's ``sendmail-bin`` conflicts with ``postfix`` (both provide
mail-transport-agent), so it is never installed: ``sendmail_tree()``
fetches ``sendmail-bin``, ``sendmail-base``, ``sendmail-cf`` and the one
library Sendmail links that Postfix does not (``libwrap0``) with
``apt-get download`` from the configured Debian mirror into a cache
directory (reused when present) and unpacks them with ``dpkg-deb -x``.

* ``Sendmail``          one private Sendmail: a ``sendmail.cf`` built by m4
                        from the unpacked ``sendmail-cf`` tree and
                        ``contrib/sendmail/outpost.mc``, its own queue
                        directories, ``sendmail -bD`` (the daemon in the
                        foreground) on 127.0.0.1:PORT relaying everything to
                        a capture sink through the ``esmtp`` mailer (L=990,
                        as on a real relay), and a ``submit.cf`` (the MSP)
                        relaying command-line mail to that daemon over SMTP.
* ``SendmailOutpost``   ``outpostlab.Outpost`` with Sendmail in Postfix's
                        place (same store, DNS, keys, milter and sink).
* ``SendmailCase``      ``outpostlab.OutpostCase`` on a ``SendmailOutpost``.

Sendmail looks up its own host name before it reads any configuration and,
when the name has no dot, asks DNS and sleeps 60 seconds. Every sendmail
process of the lab therefore runs in a private mount and UTS namespace
(``unshare --mount --uts``, as root) in which the host name is
``relay.outpost.test`` and ``/etc/hosts`` and ``/etc/resolv.conf`` are bind
mounts of the lab's own files (loopback only): nothing outside the
namespace changes and no DNS query leaves loopback. Everything else is set
with options: ``confDOMAIN_NAME``, a private ``HostsFile`` and
``ServiceSwitchFile`` (hosts from files only), private queue, pid and
status files. Only processes started here are stopped, by PID.

Cache directory: ``$OUTPOST_SENDMAIL_CACHE``, else ``<build dir>/sendmail-debs``.
A failed download fails the test with the apt-get output (never a skip).
"""

import glob
import os
import pwd
import shutil
import subprocess

import lab
import outpostlab

PACKAGES = ("sendmail-bin", "sendmail-base", "sendmail-cf", "libwrap0")
HOSTNAME = outpostlab.RELAY_HOST
SENDMAIL_VERSION = "8.17"
MSP_USER = "daemon"  # the MSP's RunAsUser (Debian's is smmsp, which the lab lacks)


def cache_dir():
    return os.path.abspath(os.environ.get("OUTPOST_SENDMAIL_CACHE")
                           or os.path.join(lab.build_dir(), "sendmail-debs"))


def _run(argv, timeout, what, cwd=None):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except FileNotFoundError as exc:
        raise AssertionError("%s: %s is not installed (%s)" % (what, argv[0], exc)) from None
    except subprocess.TimeoutExpired:
        raise AssertionError("%s: %s did not finish in %ds" % (what, " ".join(argv), timeout)) from None
    if r.returncode != 0:
        raise AssertionError("%s: %s exited %d:\n%s%s" % (what, " ".join(argv), r.returncode,
                                                          r.stdout[-3000:], r.stderr[-3000:]))
    return r


def _debs(cache):
    found = {}
    for p in PACKAGES:
        names = sorted(glob.glob(os.path.join(cache, "%s_*.deb" % p)))
        if names:
            found[p] = names[-1]
    return found


def sendmail_tree():
    """The root of the unpacked packages (``<cache>/root``), downloading and
    unpacking them first when needed.  Raises AssertionError naming what
    failed (no mirror, no dpkg-deb, not Sendmail 8.17)."""
    cache = cache_dir()
    root = os.path.join(cache, "root")
    binary = os.path.join(root, "usr/libexec/sendmail/sendmail")
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    os.makedirs(cache, exist_ok=True)
    debs = _debs(cache)
    missing = [p for p in PACKAGES if p not in debs]
    if missing:
        # apt-get download writes into the current directory; as root it
        # warns that _apt cannot write there and downloads unsandboxed.
        _run(["apt-get", "-q", "-o", "DPkg::Lock::Timeout=120", "download"] + missing, 300,
             "downloading %s from the configured Debian mirror (the Sendmail test needs them; "
             "check `apt-get update` and the network to the mirror)" % " ".join(missing), cwd=cache)
        debs = _debs(cache)
        missing = [p for p in PACKAGES if p not in debs]
        if missing:
            raise AssertionError("apt-get download left no .deb for %s in %s" % (missing, cache))
    version = _run(["dpkg-deb", "-f", debs["sendmail-bin"], "Version"], 30, "reading sendmail-bin").stdout
    if not version.startswith(SENDMAIL_VERSION + "."):
        raise AssertionError("sendmail-bin %s is not Sendmail %s" % (version.strip(), SENDMAIL_VERSION))
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for p in PACKAGES:
        _run(["dpkg-deb", "-x", debs[p], tmp], 60, "unpacking %s" % debs[p])
    # The binary is set-group-id mail: drop that, so the loader honours
    # LD_LIBRARY_PATH (for the unpacked libwrap) when root runs it.
    os.chmod(os.path.join(tmp, "usr/libexec/sendmail/sendmail"), 0o755)
    with open(os.path.join(tmp, ".complete"), "w") as f:
        f.write(version)
    shutil.rmtree(root, ignore_errors=True)
    os.rename(tmp, root)
    if not os.access(binary, os.X_OK):
        raise AssertionError("no sendmail binary at %s after unpacking" % binary)
    return root


def contrib_mc():
    return os.path.join(lab.source_dir(), "contrib", "sendmail", "outpost.mc")


class Sendmail:
    """A private Sendmail under ``<tmpdir>/sendmail``.

    ``Sendmail(tmpdir, relay_port, milter=None, smtp_port=None, mc_extra=())``:
    ``milter`` is the milter address as Sendmail writes it
    (``unix:/path``), included through ``contrib/sendmail/outpost.mc`` with
    ``OUTPOST_SOCKET``; ``mc_extra``: more .mc lines.  ``start()``,
    ``stop()``, ``send()`` (SMTP, like ``lab.Postfix.send``), ``submit()``
    (command-line mail through the MSP or the main configuration),
    ``queue()``, ``log()``.
    """

    def __init__(self, tmpdir, relay_port, milter=None, smtp_port=None, mc_extra=()):
        self.tree = sendmail_tree()
        self.dir = os.path.join(tmpdir, "sendmail")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.relay_port = relay_port
        self.milter = milter
        self.smtp_port = smtp_port or lab.free_port()
        self.mc_extra = list(mc_extra)
        self.cf_dir = os.path.join(self.tree, "usr/share/sendmail/cf")
        self.binary = os.path.join(self.tree, "usr/libexec/sendmail/sendmail")
        self.queue_dir = os.path.join(self.dir, "mqueue")
        self.msp_queue_dir = os.path.join(self.dir, "clientmqueue")
        self.cf = os.path.join(self.dir, "sendmail.cf")
        self.submit_cf = os.path.join(self.dir, "submit.cf")
        self.log_path = os.path.join(self.dir, "sendmail.log")
        self.wrapper = os.path.join(self.dir, "run-sendmail")
        self.process = None
        self._write_files()

    # --- configuration ----------------------------------------------------
    def _path(self, name):
        return os.path.join(self.dir, name)

    def _common_mc(self, name):
        q = lambda s: "`" + s + "'"  # noqa: E731 - m4 quoting
        return [
            "divert(-1)",
            "divert(0)dnl",
            "include(%s)dnl" % q(os.path.join(self.cf_dir, "m4/cf.m4")),
            "VERSIONID(%s)dnl" % q("outpost lab " + name),
            "OSTYPE(%s)dnl" % q("linux"),
            "define(%s, %s)dnl" % (q("confDOMAIN_NAME"), q(HOSTNAME)),
            "define(%s, %s)dnl" % (q("confHOSTS_FILE"), q(self._path("hosts"))),
            "define(%s, %s)dnl" % (q("confSERVICE_SWITCH_FILE"), q(self._path("service.switch"))),
            "define(%s, %s)dnl" % (q("confCW_FILE"), q(self._path("local-host-names"))),
            "define(%s, %s)dnl" % (q("confHELP_FILE"), q(self._path("helpfile"))),
            "define(%s, %s)dnl" % (q("confDONT_PROBE_INTERFACES"), q("True")),
            "define(%s, %s)dnl" % (q("confTO_IDENT"), q("0")),
            "undefine(%s)dnl" % q("ALIAS_FILE"),
        ]

    def main_mc(self):
        """The daemon's .mc: loopback only, every recipient relayed to the
        sink with the esmtp mailer (L=990), outpost's fragment included."""
        q = lambda s: "`" + s + "'"  # noqa: E731
        lines = self._common_mc("MTA") + [
            "define(%s, %s)dnl" % (q("QUEUE_DIR"), q(self.queue_dir)),
            "define(%s, %s)dnl" % (q("STATUS_FILE"), q(self._path("sendmail.st"))),
            "define(%s, %s)dnl" % (q("confPID_FILE"), q(self._path("sendmail.pid"))),
            "define(%s, %s)dnl" % (q("SMART_HOST"), q("esmtp:[127.0.0.1]")),
            "define(%s, %s)dnl" % (q("ESMTP_MAILER_ARGS"), q("TCP $h %d" % self.relay_port)),
            "define(%s, %s)dnl" % (q("SMTP_MAILER_ARGS"), q("TCP $h %d" % self.relay_port)),
            "define(%s, %s)dnl" % (q("RELAY_MAILER_ARGS"), q("TCP $h %d" % self.relay_port)),
            # The lab's milter socket lives under /tmp (world writable,
            # sticky); Sendmail refuses such a path unless told to trust the
            # sticky bit. /run/outpost needs nothing of the kind.
            "define(%s, %s)dnl" % (q("confDONT_BLAME_SENDMAIL"), q("TrustStickyBit")),
            "FEATURE(%s)dnl" % q("no_default_msa"),
            "FEATURE(%s)dnl" % q("accept_unresolvable_domains"),
            # Only 127.0.0.1 can connect; the lab relays anything it gets.
            "FEATURE(%s)dnl" % q("promiscuous_relay"),
            "DAEMON_OPTIONS(%s)dnl" % q("Port=%d, Addr=127.0.0.1, Name=MTA" % self.smtp_port),
        ]
        if self.milter:
            lines.append("define(%s, %s)dnl" % (q("OUTPOST_SOCKET"), q(self.milter)))
            with open(contrib_mc()) as f:
                lines.append(f.read().rstrip("\n"))
        lines += self.mc_extra
        lines += ["MAILER(%s)dnl" % q("local"), "MAILER(%s)dnl" % q("smtp")]
        return "\n".join(lines) + "\n"

    def submit_mc(self):
        """The MSP's .mc (as Debian's submit.mc): relay command-line mail
        over SMTP to the daemon on 127.0.0.1:smtp_port."""
        q = lambda s: "`" + s + "'"  # noqa: E731
        return "\n".join(self._common_mc("MSP") + [
            "define(%s, %s)dnl" % (q("confCF_VERSION"), q("Submit")),
            "define(%s, %s)dnl" % (q("__OSTYPE__"), q("")),
            "define(%s, %s)dnl" % (q("MSP_QUEUE_DIR"), q(self.msp_queue_dir)),
            "define(%s, %s)dnl" % (q("confPID_FILE"), q(self._path("sm-client.pid"))),
            "define(%s, %s)dnl" % (q("STATUS_FILE"), q(self._path("sm-client.st"))),
            # The MSP runs as smmsp and refuses root; the lab has no smmsp.
            "define(%s, %s)dnl" % (q("confRUN_AS_USER"), q(MSP_USER)),
            # Before FEATURE(msp): it pulls in the smtp mailers at once.
            "define(%s, %s)dnl" % (q("RELAY_MAILER_ARGS"), q("TCP $h %d" % self.smtp_port)),
            "FEATURE(%s, %s)dnl" % (q("msp"), q("[127.0.0.1]")),
        ]) + "\n"

    def _m4(self, mc_text, mc_name, cf_path):
        mc = self._path(mc_name)
        with open(mc, "w") as f:
            f.write(mc_text)
        if not shutil.which("m4"):
            raise AssertionError("m4 is not installed: it builds sendmail.cf (./dev installs it)")
        r = subprocess.run(["m4", mc], capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or "ERROR" in r.stderr:
            raise AssertionError("m4 %s failed (%d):\n%s" % (mc, r.returncode, r.stderr[-3000:]))
        with open(cf_path, "w") as f:
            f.write(r.stdout)

    def _write_files(self):
        for d in (self.queue_dir, self.msp_queue_dir):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o700)
        pw = pwd.getpwnam(MSP_USER)
        os.chown(self.msp_queue_dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.msp_queue_dir, 0o770)
        files = {
            "hosts": "127.0.0.1 %s relay localhost\n::1 %s relay localhost\n" % (HOSTNAME, HOSTNAME),
            "resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            "service.switch": "hosts files\naliases files\n",
            "local-host-names": "",
            "helpfile": "",
        }
        for name, text in files.items():
            with open(self._path(name), "w") as f:
                f.write(text)
        self._m4(self.main_mc(), "sendmail.mc", self.cf)
        self._m4(self.submit_mc(), "submit.mc", self.submit_cf)
        libdir = os.path.join(self.tree, "usr/lib/x86_64-linux-gnu")
        with open(self.wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    "# Runs inside `unshare --mount --uts` (see sendmaillab.py).\n"
                    "set -e\n"
                    "mount --bind %s /etc/hosts\n"
                    "mount --bind %s /etc/resolv.conf\n"
                    "hostname %s\n"
                    "export LD_LIBRARY_PATH=%s\n"
                    "exec %s \"$@\"\n" % (self._path("hosts"), self._path("resolv.conf"),
                                          HOSTNAME, libdir, self.binary))
        os.chmod(self.wrapper, 0o755)

    def argv(self, *args):
        """A sendmail command line run in the lab's namespace."""
        if os.geteuid() != 0:
            raise AssertionError("the Sendmail lab runs as root (unshare, bind mounts)")
        return ["unshare", "--mount", "--uts", self.wrapper] + [str(a) for a in args]

    # --- processes --------------------------------------------------------
    def start(self, timeout=20.0):
        self.process = lab.Process(self.argv("-bD", "-C", self.cf), self.log_path).start()
        self.process.wait_ready(lambda: lab.tcp_listening(self.smtp_port), timeout,
                                "sendmail -bD on 127.0.0.1:%d" % self.smtp_port)
        return self

    def running(self):
        return self.process is not None and self.process.alive()

    def stop(self, timeout=10.0):
        """SIGTERM the daemon (by PID) and then any child it left (by PID:
        the daemon's process group is its own, from start_new_session)."""
        if self.process is None:
            return
        pid = self.process.pid
        self.process.stop(timeout)
        for child in lab._processes(pgrp=pid):
            try:
                os.kill(child, 15)
            except ProcessLookupError:
                pass
        lab.wait_until(lambda: not lab._processes(pgrp=pid), 10, 0.05,
                       "sendmail children of %d to exit" % pid)

    # --- mail -------------------------------------------------------------
    send = lab.Postfix.send

    def submit(self, args, data, config="msp", timeout=60.0):
        """Command-line mail: ``sendmail -C <submit.cf|sendmail.cf> ARGS``
        with ``data`` on stdin.  ``config``: "msp" (submit.cf: relayed over
        SMTP to the daemon) or "main" (sendmail.cf itself, what -Am or -C
        /etc/mail/sendmail.cf does).  Returns the CompletedProcess."""
        cf = {"msp": self.submit_cf, "main": self.cf}[config]
        if isinstance(data, str):
            data = data.encode("utf-8")
        return subprocess.run(self.argv("-C", cf, *args), input=data, capture_output=True,
                              timeout=timeout)

    def queue(self, config="main"):
        """Queued message ids (the qf files) of the daemon or the MSP."""
        d = self.queue_dir if config == "main" else self.msp_queue_dir
        return sorted(n[2:] for n in os.listdir(d) if n.startswith("qf"))

    def log(self):
        return lab._read_text(self.log_path)


class SendmailOutpost(outpostlab.Outpost):
    """An ``Outpost`` whose MTA is the private Sendmail (``self.sendmail``;
    ``self.postfix`` stays None)."""

    def start(self, milter=True):
        self.sendmail = None
        self.start_lab()
        self.sendmail = Sendmail(self.tmp, self.sink.port, milter="unix:" + self.sock)
        if milter:
            self.start_milter()
        self.sendmail.start()
        return self

    def send(self, mail_from, rcpts, data, **kw):
        return self.sendmail.send(mail_from, rcpts, data, **kw)

    def wait_delivered(self, token, count=1, timeout=20.0):
        try:
            return lab.wait_until(lambda: (lambda ms: ms if len(ms) >= count else None)(
                self.delivered(token)), timeout, 0.05, "delivery of %s" % token)
        except TimeoutError as exc:
            raise AssertionError("%s\n%s" % (exc, self.diagnostics())) from None

    def diagnostics(self):
        sm = self.sendmail
        return "sendmail queue: %s, msp queue: %s\nsendmail output tail:\n%s\nmilter log tail:\n%s" % (
            sm.queue() if sm else "-", sm.queue("msp") if sm else "-",
            sm.log()[-2000:] if sm else "", self.milter_log_text()[-2500:])

    def stop(self):
        for stop in (lambda: self.sendmail and self.sendmail.stop(),
                     self.stop_milter,
                     lambda: self.sink and self.sink.stop(),
                     lambda: self.dns and self.dns.stop()):
            try:
                stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                pass


class SendmailCase(outpostlab.OutpostCase):
    """``OutpostCase`` with Sendmail as the MTA: one ``SendmailOutpost`` per
    class; ``setUpOutpost(cls, op)`` adds domains and keys before the
    milter and Sendmail start."""

    OUTPOST = SendmailOutpost
