"""Loopback mail lab: run real mail components for outpost's integration tests.

Everything here listens on, and talks to, 127.0.0.1 only.  Run it with Debian's
interpreter, ``/usr/bin/python3``: it is the one that sees python3-dkim,
python3-dnspython and python3-nacl.

Pieces (each one owns a directory inside a test's temporary directory and
stops only the processes it started, by PID):

* ``free_port()``            a free TCP+UDP port on 127.0.0.1
* ``DnsServer``              unbound serving static test zones (``local-data``)
* ``Sink``                   an SMTP server that captures every delivered message
* ``Postfix``                a private Postfix instance (optionally with a milter)
* ``verify_dkim()``          independent DKIM verification with dkimpy
* ``Process``                a background process with a log file (for milters)
* ``build_dir()``, ``source_dir()``, ``tmpdir()``, ``wait_until()``, ``crlf()``

Typical use in a ``unittest.TestCase``::

    tmp = lab.tmpdir(self)                       # removed by addCleanup
    dns = lab.DnsServer(tmp).start(); self.addCleanup(dns.stop)
    sink = lab.Sink().start();        self.addCleanup(sink.stop)
    pf = lab.Postfix(tmp, sink.port, milter="unix:" + sock).start()
    self.addCleanup(pf.stop)
    r = pf.send("a@example.test", ["b@example.net"], lab.crlf(TEXT))
    self.assertEqual(r.code, 250, r)
"""

import atexit
import contextlib
import dataclasses
import email
import email.policy
import json
import logging
import os
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import subprocess
import tempfile
import threading
import time

LOOPBACK = "127.0.0.1"
POSTFIX_SBIN = "/usr/sbin"
UNBOUND = "/usr/sbin/unbound"
UNBOUND_CONTROL = "/usr/sbin/unbound-control"

_HERE = os.path.dirname(os.path.abspath(__file__))

# Everything started by this module and not yet stopped.  A safety net for a
# test run that dies between start() and its cleanup: stopped at exit.
_LIVE = []


def _register(obj):
    if obj not in _LIVE:
        _LIVE.append(obj)


def _unregister(obj):
    with contextlib.suppress(ValueError):
        _LIVE.remove(obj)


@atexit.register
def _stop_everything():
    for obj in reversed(list(_LIVE)):
        with contextlib.suppress(Exception):
            obj.stop()


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------

def source_dir():
    """The outpost source tree: $OUTPOST_SOURCE_DIR, else two levels above this file."""
    return os.path.abspath(os.environ.get("OUTPOST_SOURCE_DIR")
                           or os.path.join(_HERE, "..", ".."))


def build_dir():
    """The CMake build tree: $OUTPOST_BUILD_DIR, else <source>/build (../../build)."""
    return os.path.abspath(os.environ.get("OUTPOST_BUILD_DIR")
                           or os.path.join(_HERE, "..", "..", "build"))


def free_port(tries=50):
    """Return a port number that is free on 127.0.0.1 for both TCP and UDP.

    The kernel picks a TCP port; we keep it only if UDP can bind it too.  There
    is an unavoidable window between this call and the caller binding the port.
    """
    for _ in range(tries):
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            tcp.bind((LOOPBACK, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((LOOPBACK, port))
            except OSError:
                continue
            return port
        finally:
            tcp.close()
            udp.close()
    raise RuntimeError("no free TCP+UDP port on 127.0.0.1 after %d tries" % tries)


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    """Call ``predicate()`` until it returns a true value; return that value.

    Bounded both in time (``timeout`` seconds) and in count
    (``timeout / interval + 1`` calls).  Raises ``TimeoutError`` naming ``what``.
    """
    deadline = time.monotonic() + timeout
    tries = int(timeout / interval) + 1
    last_exc = None
    for _ in range(tries):
        try:
            value = predicate()
            if value:
                return value
            last_exc = None
        except Exception as exc:  # noqa: BLE001 - reported below
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError("timed out after %.1fs waiting for %s%s" % (
        timeout, what, " (last error: %r)" % (last_exc,) if last_exc else ""))


def tmpdir(testcase=None, prefix="outpost-lab-"):
    """Create a temporary directory (mode 0755, so Postfix's unprivileged
    daemons can reach sockets and files below it) and return its path.

    With a ``unittest.TestCase``, removal is registered with ``addCleanup``
    (it runs after cleanups registered later, e.g. stopping servers)."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o755)
    if testcase is not None:
        testcase.addCleanup(shutil.rmtree, path, True)
    return path


def crlf(text):
    """Return ``text`` (str or bytes) as bytes with every line ending CRLF."""
    if isinstance(text, str):
        text = text.encode("utf-8")
    return re.sub(rb"\r?\n", b"\r\n", text)


def pid_alive(pid):
    """True while ``pid`` exists and is not a zombie (PID 1 here may not reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
        state = stat[stat.rindex(b")") + 2:][:1]
        return state not in (b"Z", b"X")
    except (OSError, ValueError):
        return False


def _processes(ppid=None, pgrp=None):
    """{pid: comm} of live (non-zombie) processes whose parent is ``ppid``
    and/or whose process group is ``pgrp``, read from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        close = stat.rindex(")")
        fields = stat[close + 2:].split()  # state ppid pgrp ...
        if len(fields) < 3 or fields[0] in ("Z", "X"):
            continue
        if ppid is not None and int(fields[1]) != ppid:
            continue
        if pgrp is not None and int(fields[2]) != pgrp:
            continue
        found[int(entry)] = stat[stat.index("(") + 1:close]
    return found


def _read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


class Process:
    """A background process started by the lab, output appended to ``log_path``.

    ``Process(argv, log_path, env=None, cwd=None).start()``; ``.pid``,
    ``.alive()``, ``.log()``, ``.stop(timeout)`` (SIGTERM, then SIGKILL, by PID),
    ``.wait_ready(predicate, timeout)`` (fails early if the process dies).
    """

    def __init__(self, argv, log_path, env=None, cwd=None):
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.proc = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=self.env, cwd=self.cwd, start_new_session=True)
        _register(self)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return _read_text(self.log_path)

    def wait_ready(self, predicate, timeout=10.0, what=None):
        """Wait until ``predicate()`` is true; raise at once if the process exits."""
        what = what or "%s to become ready" % os.path.basename(self.argv[0])

        def check():
            if not self.alive():
                raise RuntimeError("%s exited with %s; log:\n%s" % (
                    self.argv[0], self.proc.returncode if self.proc else None,
                    self.log()[-4000:]))
            return predicate()

        deadline = time.monotonic() + timeout
        interval, tries = 0.02, int(timeout / 0.02) + 1
        for _ in range(tries):
            if check():
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        raise TimeoutError("timed out after %.1fs waiting for %s; log:\n%s"
                           % (timeout, what, self.log()[-4000:]))

    def stop(self, timeout=10.0):
        """Stop the process (SIGTERM to its PID, SIGKILL after ``timeout``)."""
        if self.proc is None:
            return None
        _unregister(self)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def tcp_listening(port, host=LOOPBACK):
    """True if something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError):
        with socket.create_connection((host, port), timeout=0.5):
            return True
    return False


def unix_listening(path):
    """True if something accepts connections on the unix socket ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.5)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def share_unix_socket(path, timeout=10.0, process=None, mode=0o666):
    """Wait until the unix socket ``path`` accepts connections, then chmod it
    to ``mode``: smtpd and cleanup run as ``postfix`` and need write access
    to a milter socket that a test started as root.  With ``process`` (a
    ``Process``) fail at once if it exits."""
    ready = lambda: unix_listening(path)  # noqa: E731
    if process is not None:
        process.wait_ready(ready, timeout, "unix socket %s" % path)
    else:
        wait_until(ready, timeout, 0.02, "unix socket %s" % path)
    os.chmod(path, mode)
    return path


def postfix_milter_address(spec):
    """Turn a milter address into Postfix syntax.

    Accepts Postfix forms (``unix:/path``, ``inet:host:port``), libmilter forms
    (``local:/path``, ``unix:/path``, ``inet:port@host``) and a bare path.
    """
    if spec.startswith("/"):
        return "unix:" + spec
    if spec.startswith("local:"):
        return "unix:" + spec[len("local:"):]
    m = re.fullmatch(r"inet:(\d+)@(.+)", spec)
    if m:
        return "inet:%s:%s" % (m.group(2), m.group(1))
    return spec


# --------------------------------------------------------------------------
# DNS: unbound with static local zones
# --------------------------------------------------------------------------

_NAME_RDATA_TYPES = {"CNAME", "NS", "PTR", "DNAME"}


def _fqdn(name):
    name = name.strip()
    return name if name.endswith(".") else name + "."


def _txt_strings(value):
    """Split a TXT value (str/bytes, or a list of pre-split strings) into
    character-strings of at most 255 bytes each."""
    if isinstance(value, (list, tuple)):
        parts = [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in value]
        for p in parts:
            if len(p) > 255:
                raise ValueError("TXT character-string longer than 255 bytes")
        return parts
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if not data:
        return [b""]
    return [data[i:i + 255] for i in range(0, len(data), 255)]


def _txt_quote(part):
    """Quote one character-string for a zone-file line inside unbound's config.

    Anything that could confuse unbound's config lexer or the RR parser
    (quotes, backslash, '#', ';', non-printables) becomes a \\DDD escape."""
    out = []
    for b in part:
        if 0x20 <= b < 0x7F and chr(b) not in "\"\\'#;":
            out.append(chr(b))
        else:
            out.append("\\%03d" % b)
    return '"' + "".join(out) + '"'


@dataclasses.dataclass
class DnsAnswer:
    """Result of ``DnsServer.lookup``: ``rcode`` ("NOERROR", "NXDOMAIN",
    "REFUSED", "SERVFAIL", or "TIMEOUT"/"UNREACHABLE" when no answer came)
    and ``records`` as (owner, type, rdata-text) tuples from the answer
    section(s)."""
    rcode: str
    records: list
    txt: list  # for TXT answers: list of lists of bytes (the character-strings)

    def values(self, rdtype):
        """Values of the answer records of ``rdtype``; for TXT each value is
        the concatenation of its strings, decoded as UTF-8."""
        rdtype = rdtype.upper()
        if rdtype == "TXT":
            return [b"".join(s).decode("utf-8", "replace") for s in self.txt]
        return [r[2] for r in self.records if r[1] == rdtype]


class DnsServer:
    """unbound on 127.0.0.1:PORT serving static zones and refusing everything else.

    ``DnsServer(tmpdir, port=None, ttl=0)``; ``start()`` (returns self, waits
    until it answers), ``add_zone(name)``, ``add(name, type, value, ttl=None)``,
    ``remove(name, type=None)``, ``remove_zone(name)``, ``apply()``, ``stop()``,
    ``unreachable()`` (context manager: stopped inside, restarted after),
    ``lookup(name, type)``, ``resolver()``, ``.port``, ``.upstream``.

    Records are written as ``local-data`` lines into an include file, so
    thousands of records are fine.  ``add``/``remove`` only change the lab's
    copy: call ``apply()`` (it reloads unbound through unbound-control and
    waits until the new data is served).  The default TTL is 0 so that no
    client caches anything across a change.

    Behaviour to know: names inside an added zone without data answer
    NXDOMAIN, names outside every zone REFUSED; a CNAME is answered as is,
    never chased by unbound (libunbound clients chase it themselves,
    ``lookup`` does too unless ``follow_cname=False``).  While stopped, UDP
    queries simply time out (the client sees no ICMP error), so
    "unreachable" costs a client its full timeout.
    """

    SERIAL_ZONE = "serial.outpost-lab.invalid."

    def __init__(self, tmpdir, port=None, ttl=0):
        self.port = port or free_port()
        self.dir = os.path.join(tmpdir, "unbound-%d" % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.control_port = free_port()
        self.ttl = ttl
        self.zones = []       # FQDNs, lower case
        self.records = []     # (owner fqdn, TYPE, rdata text, ttl)
        self.serial = 0
        self.process = None
        self.conf_path = os.path.join(self.dir, "unbound.conf")
        self.zones_path = os.path.join(self.dir, "zones.conf")
        self.log_path = os.path.join(self.dir, "unbound.log")

    @property
    def upstream(self):
        """The server as libunbound's forwarder syntax: ``127.0.0.1@PORT``."""
        return "%s@%d" % (LOOPBACK, self.port)

    # --- data -------------------------------------------------------------
    def add_zone(self, name):
        """Serve ``name`` as a static zone: names below it that have no
        records answer NXDOMAIN (or NODATA)."""
        fq = _fqdn(name).lower()
        if fq not in self.zones:
            self.zones.append(fq)
        return self

    def remove_zone(self, name):
        """Stop serving zone ``name`` and drop its records."""
        fq = _fqdn(name).lower()
        self.zones = [z for z in self.zones if z != fq]
        self.records = [r for r in self.records if not self._in(r[0], fq)]
        return self

    @staticmethod
    def _in(owner, zone):
        return owner == zone or owner.endswith("." + zone) or zone == "."

    def _zone_of(self, owner):
        for z in sorted(self.zones, key=len, reverse=True):
            if self._in(owner, z):
                return z
        return None

    def add(self, name, rdtype, value, ttl=None):
        """Add one record.  ``value`` is zone-file rdata text, except TXT:
        a str/bytes (split into <=255-byte strings here) or a list of strings.
        CNAME/NS/PTR/DNAME targets and MX hosts are made fully qualified."""
        owner = _fqdn(name).lower()
        if self._zone_of(owner) is None:
            raise ValueError("%s is not inside a zone added with add_zone()" % owner)
        rdtype = rdtype.upper()
        if rdtype == "TXT":
            rdata = " ".join(_txt_quote(p) for p in _txt_strings(value))
        elif rdtype in _NAME_RDATA_TYPES:
            rdata = _fqdn(value)
        elif rdtype == "MX":
            pref, host = value.split()
            rdata = "%d %s" % (int(pref), _fqdn(host))
        else:
            rdata = str(value).strip()
        if "'" in rdata or "\n" in rdata:
            raise ValueError("rdata may not contain a single quote or newline: %r" % rdata)
        self.records.append((owner, rdtype, rdata, self.ttl if ttl is None else int(ttl)))
        return self

    def remove(self, name, rdtype=None):
        """Remove the records of ``name`` (all types, or only ``rdtype``).
        Returns how many were removed."""
        owner = _fqdn(name).lower()
        rdtype = rdtype.upper() if rdtype else None
        keep = [r for r in self.records
                if not (r[0] == owner and (rdtype is None or r[1] == rdtype))]
        removed = len(self.records) - len(keep)
        self.records = keep
        return removed

    # --- config -----------------------------------------------------------
    def _write_config(self):
        conf = """\
server:
    verbosity: 1
    num-threads: 1
    interface: 127.0.0.1@{port}
    port: {port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    log-time-ascii: yes
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    so-reuseport: no
    local-zone: "." refuse
    include: "{zones}"
remote-control:
    control-enable: yes
    control-interface: 127.0.0.1
    control-port: {cport}
    control-use-cert: no
""".format(port=self.port, dir=self.dir, zones=self.zones_path, cport=self.control_port)
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def _write_zones(self):
        self.serial += 1
        lines = ["server:",
                 '    local-zone: "%s" static' % self.SERIAL_ZONE,
                 "    local-data: '%s 0 IN TXT \"%d\"'" % (self.SERIAL_ZONE, self.serial)]
        for z in self.zones:
            lines.append('    local-zone: "%s" static' % z)
        for owner, rdtype, rdata, ttl in self.records:
            lines.append("    local-data: '%s %d IN %s %s'" % (owner, ttl, rdtype, rdata))
        tmp = self.zones_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, self.zones_path)

    def _serving_serial(self):
        ans = self.lookup(self.SERIAL_ZONE, "TXT", timeout=0.5)
        vals = ans.values("TXT")
        return int(vals[0]) if vals else None

    # --- lifecycle --------------------------------------------------------
    def start(self, timeout=10.0):
        """Start unbound and return once it serves the current data."""
        if self.running():
            return self
        self._write_config()
        self._write_zones()
        check = subprocess.run(["/usr/sbin/unbound-checkconf", self.conf_path],
                               capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError("unbound config rejected:\n%s%s" % (check.stdout, check.stderr))
        self.process = Process([UNBOUND, "-d", "-c", self.conf_path], self.log_path).start()
        self.process.wait_ready(lambda: self._serving_serial() == self.serial, timeout,
                                "unbound on port %d" % self.port)
        return self

    def running(self):
        return self.process is not None and self.process.alive()

    def apply(self, timeout=10.0):
        """Publish the current zones and records; returns once they are served.
        (When the server is stopped, the data is served from the next start.)"""
        self._write_zones()
        if not self.running():
            return self
        r = subprocess.run([UNBOUND_CONTROL, "-c", self.conf_path, "reload"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0 or "ok" not in r.stdout:
            # Fall back to a restart on the same port.
            self.stop()
            return self.start(timeout)
        wait_until(lambda: self._serving_serial() == self.serial, timeout, 0.02,
                   "unbound to serve zone serial %d" % self.serial)
        return self

    def stop(self):
        """Stop unbound (SIGTERM by PID).  Queries to the port then fail."""
        if self.process is not None:
            self.process.stop()
            self.process = None

    @contextlib.contextmanager
    def unreachable(self):
        """``with dns.unreachable(): ...`` - the server is down inside the block."""
        self.stop()
        try:
            yield self
        finally:
            self.start()

    def log(self):
        return _read_text(self.log_path)

    # --- queries ----------------------------------------------------------
    def resolver(self, timeout=2.0):
        """A dnspython Resolver that asks only this server."""
        import dns.resolver
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [LOOPBACK]
        r.port = self.port
        r.timeout = timeout
        r.lifetime = timeout
        return r

    def lookup(self, name, rdtype, timeout=2.0, follow_cname=True):
        """Ask this server (see ``dns_lookup``); never raises for DNS errors.
        Returns a ``DnsAnswer``."""
        return dns_lookup(name, rdtype, self.port, timeout=timeout, follow_cname=follow_cname)


def dns_lookup(name, rdtype, port, host=LOOPBACK, timeout=2.0, follow_cname=True):
    """Ask host:port one question (UDP with EDNS, TCP when truncated) and
    return a ``DnsAnswer``; never raises for DNS or network errors.

    unbound does not chase a ``local-data`` CNAME, even into another local
    zone (a recursive client such as libunbound does).  With
    ``follow_cname`` this function does it, like a resolver would: up to 8
    links, collecting every record; the rcode is the last query's."""
    import dns.exception
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    want = dns.rdatatype.from_text(rdtype)
    qname = _fqdn(name)
    records, txt, rcode = [], [], "NOERROR"
    for _ in range(9):
        q = dns.message.make_query(qname, want, use_edns=0, payload=1232)
        try:
            resp, _tcp = dns.query.udp_with_fallback(q, host, timeout=timeout, port=port)
        except dns.exception.Timeout:
            return DnsAnswer("TIMEOUT", records, txt)
        except OSError:
            return DnsAnswer("UNREACHABLE", records, txt)
        rcode = dns.rcode.to_text(resp.rcode())
        next_name = None
        have_wanted = False
        for rrset in resp.answer:
            tname = dns.rdatatype.to_text(rrset.rdtype)
            for rd in rrset:
                records.append((rrset.name.to_text(), tname, rd.to_text()))
                if rrset.rdtype == dns.rdatatype.TXT:
                    txt.append(list(rd.strings))
                if rrset.rdtype == dns.rdatatype.CNAME:
                    next_name = rd.target.to_text()
            have_wanted = have_wanted or rrset.rdtype == want
        if (not follow_cname or have_wanted or next_name is None
                or want == dns.rdatatype.CNAME or rcode != "NOERROR"):
            break
        qname = next_name
    return DnsAnswer(rcode, records, txt)


# --------------------------------------------------------------------------
# SMTP capture sink
# --------------------------------------------------------------------------

@dataclasses.dataclass
class SinkMessage:
    """One message the sink accepted: envelope and exact DATA bytes
    (CRLF line endings as sent, dot-stuffing undone, final ".\\r\\n" removed)."""
    mail_from: str
    rcpts: list
    data: bytes
    mail_params: list
    helo: str
    received_at: float

    def email(self):
        """The message parsed with ``email.policy.default``."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def headers(self, name):
        """Raw (unfolded, stripped) values of header ``name``, in order
        (8-bit octets decoded as UTF-8)."""
        msg = email.message_from_bytes(self.data, policy=email.policy.compat32)
        # raw_items(), not get_all(): compat32 turns a value with 8-bit octets
        # into a Header object; the raw value keeps them as surrogates.
        return [re.sub(r"\r?\n[ \t]", " ", v.encode("ascii", "surrogateescape")
                       .decode("utf-8", "replace")).strip()
                for k, v in msg.raw_items() if k.lower() == name.lower()]


class _SinkHandler(socketserver.StreamRequestHandler):
    timeout = 60

    def _reply(self, line):
        self.wfile.write(line.encode("utf-8") + b"\r\n")
        self.wfile.flush()

    def handle(self):
        sink = self.server.sink
        sink._track(self.connection, True)
        try:
            self._session(sink)
        except (OSError, ValueError):
            pass
        finally:
            sink._track(self.connection, False)

    def _session(self, sink):
        self._reply("220 sink.outpost.test ESMTP lab sink")
        helo, mail_from, params, rcpts = "", None, [], []
        while True:
            line = self.rfile.readline(1 << 20)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            verb = cmd.split(" ", 1)[0].upper()
            arg = cmd[len(verb):].strip()
            if verb == "EHLO":
                helo = arg
                self._reply("250-sink.outpost.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                            "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250 SIZE 104857600")
                mail_from, params, rcpts = None, [], []
            elif verb == "HELO":
                helo = arg
                self._reply("250 sink.outpost.test")
                mail_from, params, rcpts = None, [], []
            elif verb == "MAIL":
                m = re.match(r"(?i)FROM:\s*<([^>]*)>\s*(.*)$", arg)
                if not m:
                    self._reply("501 5.5.4 Syntax: MAIL FROM:<address>")
                    continue
                mail_from, params, rcpts = m.group(1), m.group(2).split(), []
                self._reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                m = re.match(r"(?i)TO:\s*<([^>]*)>", arg)
                if mail_from is None or not m:
                    self._reply("503 5.5.1 Error: need MAIL command" if mail_from is None
                                else "501 5.5.4 Syntax: RCPT TO:<address>")
                    continue
                refusal = sink.rcpt_reply(m.group(1)) if sink.rcpt_reply else None
                if refusal:
                    self._reply(refusal)
                else:
                    rcpts.append(m.group(1))
                    self._reply("250 2.1.5 Ok")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    self._reply("503 5.5.1 Error: need RCPT command")
                    continue
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                chunks = []
                while True:
                    dl = self.rfile.readline(1 << 20)
                    if not dl:
                        return
                    if dl in (b".\r\n", b".\n"):
                        break
                    if dl.startswith(b"."):
                        dl = dl[1:]
                    chunks.append(dl)
                msg = SinkMessage(mail_from, list(rcpts), b"".join(chunks), list(params),
                                  helo, time.time())
                refusal = sink.data_reply(msg) if sink.data_reply else None
                if refusal:
                    self._reply(refusal)
                else:
                    n = sink._store(msg)
                    self._reply("250 2.0.0 Ok: queued as SINK%d" % n)
                mail_from, params, rcpts = None, [], []
            elif verb == "RSET":
                mail_from, params, rcpts = None, [], []
                self._reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self._reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self._reply("221 2.0.0 Bye")
                return
            elif verb == "VRFY":
                self._reply("252 2.0.0 Cannot VRFY")
            else:
                self._reply("502 5.5.2 Error: command not recognized")


class _SinkServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


class Sink:
    """SMTP capture server on 127.0.0.1:PORT (a Python thread in this process).

    It advertises PIPELINING, 8BITMIME, SMTPUTF8, so Postfix relays message
    bytes unchanged (no 8bit->quoted-printable downgrade) and stores each
    accepted message with its envelope.

    ``Sink(port=None, rcpt_reply=None, data_reply=None)``: the optional hooks
    return an SMTP reply line (e.g. ``"550 5.1.1 no such user"``) to refuse a
    recipient (called with the address) or a message (called with the
    ``SinkMessage``), or None to accept.  ``start()``, ``stop()`` (also closes
    open sessions), ``messages()``, ``wait_for(n, timeout)``, ``clear()``.
    """

    def __init__(self, port=None, rcpt_reply=None, data_reply=None):
        self.port = port or free_port()
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self._messages = []
        self._cond = threading.Condition()
        self._conns = set()
        self._server = None
        self._thread = None

    def start(self):
        if self._server is not None:
            return self
        server = _SinkServer((LOOPBACK, self.port), _SinkHandler)
        server.sink = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="sink-%d" % self.port, daemon=True)
        self._thread.start()
        _register(self)
        return self

    def stop(self):
        """Stop accepting, close open sessions; captured messages are kept."""
        server, self._server = self._server, None
        _unregister(self)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)

    def _track(self, conn, add):
        with self._cond:
            (self._conns.add if add else self._conns.discard)(conn)

    def _store(self, msg):
        with self._cond:
            self._messages.append(msg)
            self._cond.notify_all()
            return len(self._messages)

    def messages(self):
        """A copy of the list of captured ``SinkMessage``s, in arrival order."""
        with self._cond:
            return list(self._messages)

    def clear(self):
        with self._cond:
            self._messages.clear()

    def wait_for(self, n, timeout=10.0):
        """Wait until at least ``n`` messages arrived; return them all.
        Raises ``TimeoutError`` (saying how many arrived) after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("sink on port %d got %d of %d messages in %.1fs"
                                       % (self.port, len(self._messages), n, timeout))
                self._cond.wait(left)
            return list(self._messages)


# --------------------------------------------------------------------------
# Private Postfix instance
# --------------------------------------------------------------------------

@dataclasses.dataclass
class SmtpResult:
    """Outcome of ``Postfix.send``.

    ``ok``: the message was accepted.  ``code``/``text``: the final reply on
    success, else the refusing reply (``text`` starts with the enhanced status
    code, e.g. ``"5.7.1 AUTH_REQUIRED ..."``).  ``stage``: where it ended:
    "connect", "ehlo", "xclient", "auth", "mail", "rcpt", "data" or "done".
    ``refused``: {rcpt: (code, text)} for refused recipients (also when others
    were accepted).  ``queue_id``: Postfix's queue id on success.
    """
    ok: bool
    code: int
    text: str
    stage: str
    refused: dict = dataclasses.field(default_factory=dict)
    queue_id: str = None

    @property
    def reply(self):
        return "%d %s" % (self.code, self.text)

    def __str__(self):
        return "SmtpResult(%s at %s: %s%s)" % (
            "ok" if self.ok else "refused", self.stage, self.reply,
            ", refused=%r" % self.refused if self.refused else "")


def _xtext(value):
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else "+%02X" % ord(c)
                   for c in value)


def _decode_reply(msg):
    if isinstance(msg, bytes):
        msg = msg.decode("utf-8", "replace")
    return msg.replace("\r", "")


class Postfix:
    """A private Postfix instance under ``<tmpdir>/<name>`` listening for SMTP
    on 127.0.0.1:``smtp_port`` and relaying everything to 127.0.0.1:``relay_port``.

    ``Postfix(tmpdir, relay_port, milter=None, extra=None, smtp_port=None,
    name="postfix", master_extra=())``

    * ``milter``: ``"unix:/path"`` / ``"inet:127.0.0.1:PORT"`` (libmilter
      spellings accepted too); sets ``smtpd_milters`` and ``non_smtpd_milters``
      with ``milter_default_action = tempfail``, ``milter_protocol = 6``.
    * ``extra``: main.cf settings that override the defaults (dict).
    * ``master_extra``: lines appended to master.cf (e.g. pipe transports).

    Relaying is open (``mynetworks = 0.0.0.0/0``; the instance listens on
    loopback only, policing is the milter's job), and XCLIENT is allowed from
    127.0.0.0/8, so ``send(..., xclient={"ADDR": "192.0.2.7", "LOGIN":
    "alice"})`` pretends another client address and/or a SASL login: LOGIN
    sets Postfix's sasl_username, i.e. the milter macro ``{auth_authen}``.

    Methods: ``start()``, ``stop()``, ``restart()``, ``reload()``,
    ``postconf(dict)``, ``set_milter()``, ``children()``, ``send()``,
    ``sendmail()``, ``queue()``, ``flush()``, ``wait_queue_empty()``,
    ``log()``, ``wait_log()``.

    Behaviour to know: with the milter unreachable, SMTP gets
    ``451 4.7.1 Service unavailable - try again later`` at MAIL FROM, and
    mail submitted with ``sendmail()`` stays in the maildrop queue (pickup
    retries it); nothing passes unsigned.  ``restart()`` keeps the queue but
    mail caught in the middle waits for the next queue scan (~1 s).
    """

    def __init__(self, tmpdir, relay_port, milter=None, extra=None, smtp_port=None,
                 name="postfix", master_extra=()):
        self.base = os.path.join(tmpdir, name)
        self.config_dir = os.path.join(self.base, "etc")
        self.queue_dir = os.path.join(self.base, "queue")
        self.data_dir = os.path.join(self.base, "data")
        self.log_path = os.path.join(self.base, "maillog")
        self.smtp_port = smtp_port or free_port()
        self.relay_port = relay_port
        self.milter = postfix_milter_address(milter) if milter else None
        self.extra = dict(extra or {})
        self.master_extra = list(master_extra)
        self.name = name
        self.master_pid = None

    # --- configuration ----------------------------------------------------
    def main_cf(self):
        """The main.cf settings as an ordered dict."""
        conf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue_dir,
            "data_directory": self.data_dir,
            "meta_directory": "/etc/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "syslog_name": "postfix-lab",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.base,
            "myhostname": "relay.outpost.test",
            "mydomain": "outpost.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "relay_domains": "",
            "local_recipient_maps": "",
            "local_transport": "error:5.1.1 local delivery is disabled in the lab",
            "alias_maps": "",
            "alias_database": "",
            "inet_interfaces": LOOPBACK,
            "inet_protocols": "ipv4",
            "mynetworks": "0.0.0.0/0",
            "relayhost": "[%s]:%d" % (LOOPBACK, self.relay_port),
            "smtp_dns_support_level": "disabled",
            "smtpd_peername_lookup": "no",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_authorized_xclient_hosts": "127.0.0.0/8",
            "smtpd_banner": "$myhostname ESMTP",
            "biff": "no",
            "in_flow_delay": "0",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
            "milter_default_action": "tempfail",
            "milter_protocol": "6",
            "milter_connect_macros": "j {daemon_name} {daemon_addr} v _ "
                                     "{client_addr} {client_name}",
            "milter_helo_macros": "{tls_version} {cipher} {cipher_bits} "
                                  "{cert_subject} {cert_issuer}",
            "milter_mail_macros": "i {auth_type} {auth_authen} {auth_author} {mail_addr} "
                                  "{mail_host} {mail_mailer} {client_addr}",
            "milter_rcpt_macros": "i {rcpt_addr} {rcpt_host} {rcpt_mailer}",
            "milter_data_macros": "i {auth_authen}",
            "milter_end_of_header_macros": "i {auth_type} {auth_authen} {client_addr}",
            "milter_end_of_data_macros": "i {auth_type} {auth_authen} {client_addr}",
        }
        if self.milter:
            conf["smtpd_milters"] = self.milter
            conf["non_smtpd_milters"] = self.milter
        conf.update(self.extra)
        return conf

    def master_cf(self):
        """master.cf text: every service unchrooted, smtpd on the lab port."""
        services = [
            ("%s:%d" % (LOOPBACK, self.smtp_port), "inet", "n", "-", "n", "-", "-", "smtpd"),
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("proxywrite", "unix", "-", "-", "n", "-", "1", "proxymap"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("local", "unix", "-", "n", "n", "-", "-", "local"),
            ("lmtp", "unix", "-", "-", "n", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        lines = ["# written by tests/integration/lab.py"]
        lines += ["%-12s %-10s %-3s %-3s %-3s %-6s %-3s %s" % s for s in services]
        lines += self.master_extra
        return "\n".join(lines) + "\n"

    def _write_config(self):
        os.makedirs(self.config_dir, exist_ok=True)
        for d in (self.base, self.config_dir):
            os.chmod(d, 0o755)
        os.makedirs(self.queue_dir, exist_ok=True)
        os.chmod(self.queue_dir, 0o755)
        os.makedirs(self.data_dir, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        shutil.chown(self.data_dir, "postfix", "postfix")
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            for k, v in self.main_cf().items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(self.master_cf())
        # Postfix re-reads a main.cf/master.cf younger than ~2 s every 300 ms
        # until it is older (a guard against half-written files): date them back.
        past = time.time() - 10
        for fname in ("main.cf", "master.cf"):
            os.utime(os.path.join(self.config_dir, fname), (past, past))

    def _run(self, argv, input=None, timeout=60, check=True):
        r = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s\nmaillog tail:\n%s" % (
                " ".join(argv), r.returncode, r.stdout.decode(errors="replace"),
                r.stderr.decode(errors="replace"), self.log()[-3000:]))
        return r

    def postconf(self, settings, apply="restart"):
        """Change main.cf settings (dict).  A running instance is restarted
        (``apply="restart"``, deterministic), reloaded (``"reload"``), or left
        alone (None)."""
        self.extra.update(settings)
        if "smtpd_milters" in settings:
            self.milter = settings["smtpd_milters"] or None
        if os.path.isdir(self.config_dir):
            self._write_config()
            if apply and self.running():
                self.restart() if apply == "restart" else self.reload()
        return self

    def set_milter(self, milter, apply="restart"):
        """Point smtpd_milters and non_smtpd_milters at ``milter`` (None: none)."""
        spec = postfix_milter_address(milter) if milter else ""
        self.milter = spec or None
        return self.postconf({"smtpd_milters": spec, "non_smtpd_milters": spec}, apply)

    # --- lifecycle --------------------------------------------------------
    def _read_master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self):
        return self.master_pid is not None and pid_alive(self.master_pid)

    def start(self, timeout=20.0):
        """Write the config, start the master (``postfix -c DIR start``, which
        also creates the queue directories), and wait for the SMTP banner."""
        if self.running():
            return self
        self._write_config()
        if tcp_listening(self.smtp_port):
            raise RuntimeError("port %d on 127.0.0.1 is already in use" % self.smtp_port)
        _register(self)
        try:
            self._run([POSTFIX_SBIN + "/postfix", "-c", self.config_dir, "start"],
                      timeout=timeout)
        except RuntimeError as exc:
            # The master reports early fatal errors (bad settings, a port it
            # cannot bind) only to syslog, which does not exist here.
            raise RuntimeError("%s\n(hint: the master logs early fatal errors to syslog "
                               "only; check settings and ports; `postfix -c %s check`)"
                               % (exc, self.config_dir)) from None
        self.master_pid = self._read_master_pid()
        if self.master_pid is None:
            raise RuntimeError("postfix started but wrote no master.pid; log:\n" + self.log())

        def banner():
            with socket.create_connection((LOOPBACK, self.smtp_port), timeout=2) as s:
                s.settimeout(5)
                return s.recv(512).startswith(b"220")
        wait_until(banner, timeout, 0.05, "postfix smtpd banner on port %d" % self.smtp_port)
        return self

    def stop(self, timeout=10.0):
        """Stop the instance: SIGTERM to the master we started (by PID), then
        wait until every process of its process group (the master is a
        session leader; all Postfix daemons of this instance are in its
        group) has exited; SIGKILL to that group after ``timeout``."""
        _unregister(self)
        pid = self.master_pid or self._read_master_pid()
        self.master_pid = None
        if pid is None:
            return
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            wait_until(lambda: not pid_alive(pid) and not _processes(pgrp=pid), timeout, 0.02,
                       "postfix master %d and its daemons to exit" % pid)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            wait_until(lambda: not pid_alive(pid) and not _processes(pgrp=pid), 5.0, 0.02,
                       "postfix process group %d to die" % pid)

    def children(self):
        """{pid: program name} of the master's live child processes."""
        return _processes(ppid=self.master_pid) if self.master_pid else {}

    def reload(self, grace=2.0):
        """``postfix -c DIR reload``: the master re-reads main.cf/master.cf and
        children pick up the change "when convenient".  Waits up to ``grace``
        seconds for the children that predate the reload to exit (most do in
        ~50 ms, but an idle smtpd can still serve one more connection with the
        old settings and the odd one lingers up to max_idle).  For a change
        that must be in effect at once use ``restart()`` (what ``postconf``
        does by default)."""
        old = set(self.children())
        self._run([POSTFIX_SBIN + "/postfix", "-c", self.config_dir, "reload"])
        with contextlib.suppress(TimeoutError):
            wait_until(lambda: not (old & set(self.children())), grace, 0.02,
                       "postfix processes older than the reload to exit")
        return self

    def restart(self, timeout=20.0):
        """Stop and start the instance (the queue is kept): every process
        then runs with the current main.cf/master.cf.  About 0.3 s."""
        self.stop()
        return self.start(timeout)

    # --- submission -------------------------------------------------------
    def send(self, mail_from, rcpts, data, xclient=None, helo="client.outpost.test",
             auth=None, mail_options=(), timeout=30.0):
        """Submit one message over SMTP; returns an ``SmtpResult`` (never raises
        for SMTP refusals).  ``data``: bytes sent as-is (use CRLF line endings,
        see ``crlf()``) or str (converted with ``crlf()``).  ``xclient``: dict of
        XCLIENT attributes (ADDR, NAME, LOGIN, HELO, ...).  ``auth``: (user,
        password) for SMTP AUTH when SASL is configured."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(data, str):
            data = crlf(data)
        stage = "connect"
        try:
            s = smtplib.SMTP(timeout=timeout)
            code, msg = s.connect(LOOPBACK, self.smtp_port)
        except smtplib.SMTPConnectError as exc:
            return SmtpResult(False, exc.smtp_code, _decode_reply(exc.smtp_error), stage)
        except OSError as exc:
            return SmtpResult(False, -1, "connect failed: %s" % exc, stage)
        try:
            if code != 220:
                return SmtpResult(False, code, _decode_reply(msg), stage)
            stage = "ehlo"
            code, msg = s.ehlo(helo)
            if code != 250:
                return SmtpResult(False, code, _decode_reply(msg), stage)
            if xclient:
                stage = "xclient"
                arg = " ".join("%s=%s" % (k.upper(), _xtext(str(v))) for k, v in xclient.items())
                code, msg = s.docmd("XCLIENT", arg)
                if code != 220:
                    return SmtpResult(False, code, _decode_reply(msg), stage)
                stage = "ehlo"
                code, msg = s.ehlo(helo)
                if code != 250:
                    return SmtpResult(False, code, _decode_reply(msg), stage)
            if auth:
                stage = "auth"
                try:
                    s.login(auth[0], auth[1])
                except smtplib.SMTPAuthenticationError as exc:
                    return SmtpResult(False, exc.smtp_code, _decode_reply(exc.smtp_error), stage)
            stage = "mail"
            opts = list(mail_options)
            if any(b > 0x7F for b in data) and not any(o.upper().startswith("BODY=") for o in opts):
                opts.append("BODY=8BITMIME")
            code, msg = s.mail(mail_from, opts)
            if code != 250:
                return SmtpResult(False, code, _decode_reply(msg), stage)
            stage = "rcpt"
            refused = {}
            for r in rcpts:
                code, msg = s.rcpt(r)
                if code not in (250, 251):
                    refused[r] = (code, _decode_reply(msg))
            if len(refused) == len(rcpts):
                first = refused[rcpts[0]]
                return SmtpResult(False, first[0], first[1], stage, refused)
            stage = "data"
            code, msg = s.data(data)
            text = _decode_reply(msg)
            if code != 250:
                return SmtpResult(False, code, text, stage, refused)
            m = re.search(r"queued as ([0-9A-Za-z]+)", text)
            return SmtpResult(True, code, text, "done", refused, m.group(1) if m else None)
        except smtplib.SMTPResponseException as exc:
            return SmtpResult(False, exc.smtp_code, _decode_reply(exc.smtp_error), stage)
        except smtplib.SMTPDataError as exc:
            return SmtpResult(False, exc.smtp_code, _decode_reply(exc.smtp_error), stage)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            return SmtpResult(False, -1, "connection lost: %s" % exc, stage)
        except smtplib.SMTPException as exc:  # e.g. AUTH not offered
            return SmtpResult(False, -1, "%s: %s" % (type(exc).__name__, exc), stage)
        finally:
            with contextlib.suppress(Exception):
                s.quit()
            with contextlib.suppress(Exception):
                s.close()

    def sendmail(self, mail_from, rcpts, data, timeout=30.0):
        """Submit through ``/usr/sbin/sendmail -C <config_dir>`` (postdrop ->
        pickup -> cleanup: the ``non_smtpd_milters`` path).  Returns the
        ``subprocess.CompletedProcess`` (stdout/stderr as bytes)."""
        if isinstance(rcpts, str):
            rcpts = [rcpts]
        if isinstance(data, str):
            data = data.encode("utf-8")
        argv = [POSTFIX_SBIN + "/sendmail", "-C", self.config_dir, "-i", "-f", mail_from, "--"]
        return subprocess.run(argv + list(rcpts), input=data, capture_output=True,
                              timeout=timeout)

    # --- queue and log ----------------------------------------------------
    def queue(self):
        """Queued messages as dicts from ``postqueue -j`` (queue_name,
        queue_id, sender, recipients[{address, delay_reason}], ...)."""
        r = self._run([POSTFIX_SBIN + "/postqueue", "-c", self.config_dir, "-j"])
        return [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]

    def flush(self):
        """``postqueue -f``: retry deferred mail now."""
        self._run([POSTFIX_SBIN + "/postqueue", "-c", self.config_dir, "-f"])

    def wait_queue_empty(self, timeout=30.0):
        """Wait until no message is queued (maildrop, incoming, active,
        deferred, hold).  Raises ``TimeoutError`` listing what is left."""
        left = []

        def empty():
            left[:] = self.queue()
            return not left
        try:
            wait_until(empty, timeout, 0.1, "postfix queue to empty")
        except TimeoutError as exc:
            raise TimeoutError("%s; still queued: %s" % (exc, json.dumps(left)[:3000])) from None

    def log(self):
        """The instance's maillog as text ("" before anything was logged)."""
        return _read_text(self.log_path)

    def wait_log(self, pattern, timeout=10.0):
        """Wait until the maillog matches regex ``pattern``; return the match."""
        rx = re.compile(pattern)
        try:
            return wait_until(lambda: rx.search(self.log()), timeout, 0.05,
                              "maillog to match %r" % pattern)
        except TimeoutError as exc:
            raise TimeoutError("%s; maillog tail:\n%s" % (exc, self.log()[-3000:])) from None


# --------------------------------------------------------------------------
# A minimal recording milter (to check the lab's Postfix milter wiring)
# --------------------------------------------------------------------------

@dataclasses.dataclass
class MilterSession:
    """What ``RecordingMilter`` saw on one MTA connection: ``macros`` maps a
    stage letter ("C" connect, "H" helo, "M" mail, "R" rcpt, "T" data,
    "N" end of headers, "E" end of message) to {macro name: value} (names
    without braces, e.g. "auth_authen", "i"); ``commands`` lists every
    command letter in order; ``mail_from``/``rcpts``/``headers`` as sent."""
    macros: dict = dataclasses.field(default_factory=dict)
    commands: list = dataclasses.field(default_factory=list)
    mail_from: str = ""
    rcpts: list = dataclasses.field(default_factory=list)
    headers: list = dataclasses.field(default_factory=list)


class _MilterHandler(socketserver.BaseRequestHandler):
    def _recv(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.request.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _send(self, cmd, data=b""):
        self.request.sendall((len(data) + 1).to_bytes(4, "big") + cmd + data)

    def handle(self):
        milter = self.server.milter
        session = MilterSession()
        milter._add(session)
        self.request.settimeout(60)
        with contextlib.suppress(EOFError, OSError):
            while True:
                size = int.from_bytes(self._recv(4), "big")
                if not 1 <= size <= (1 << 24):
                    return
                packet = self._recv(size)
                cmd, data = packet[:1], packet[1:]
                letter = cmd.decode("latin-1")
                if cmd == b"O":     # option negotiation: all steps, no actions
                    self._send(b"O", (6).to_bytes(4, "big") + bytes(8))
                    continue
                if cmd == b"D":     # macros for the stage named by data[0]
                    items = data[1:].split(b"\0")
                    pairs = {items[i].decode("utf-8", "replace").strip("{}"):
                             items[i + 1].decode("utf-8", "replace")
                             for i in range(0, len(items) - 1, 2)}
                    session.macros.setdefault(data[:1].decode("latin-1"), {}).update(pairs)
                    continue
                session.commands.append(letter)
                if cmd in (b"Q",):
                    return
                if cmd in (b"A", b"K"):   # abort / new transaction: no reply
                    continue
                args = [a.decode("utf-8", "replace") for a in data.split(b"\0")]
                if cmd == b"M":
                    session.mail_from = args[0].strip("<>")
                elif cmd == b"R":
                    session.rcpts.append(args[0].strip("<>"))
                elif cmd == b"L":
                    session.headers.append((args[0], args[1] if len(args) > 1 else ""))
                stage = {"M": "mail", "R": "rcpt", "N": "eoh", "E": "eom"}.get(letter)
                if stage and milter.reject_at == stage:
                    self._send(b"y", milter.reject_reply.encode("utf-8") + b"\0")
                elif cmd == b"E":
                    self._send(b"a")    # accept
                else:
                    self._send(b"c")    # continue


class _MilterServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class RecordingMilter:
    """A tiny milter (protocol 6, in this process) on a unix socket that
    accepts everything and records what Postfix sends, macros included.
    It proves the lab's milter wiring without outpost; it is not a model of
    outpost.  ``RecordingMilter(path, reject_at=None, reject_reply=...)``:
    ``reject_at`` "mail"|"rcpt"|"eoh"|"eom" answers that stage with
    ``reject_reply`` (e.g. "550 5.7.1 NO test").  ``start()``, ``stop()``,
    ``sessions()``, ``.address`` ("unix:PATH", for ``Postfix(milter=...)``)."""

    def __init__(self, path, reject_at=None, reject_reply="550 5.7.1 REJECTED by the lab milter"):
        self.path = path
        self.address = "unix:" + path
        self.reject_at = reject_at
        self.reject_reply = reject_reply
        self._sessions = []
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    def _add(self, session):
        with self._lock:
            self._sessions.append(session)

    def sessions(self):
        """Sessions seen so far (one per MTA connection to the milter)."""
        with self._lock:
            return list(self._sessions)

    def start(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._server = _MilterServer(self.path, _MilterHandler)
        self._server.milter = self
        os.chmod(self.path, 0o666)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        _register(self)
        return self

    def stop(self):
        server, self._server = self._server, None
        _unregister(self)
        if server is None:
            return
        server.shutdown()
        server.server_close()
        self._thread.join(10)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


# --------------------------------------------------------------------------
# DKIM verification (dkimpy, independent of outpost)
# --------------------------------------------------------------------------

@dataclasses.dataclass
class DkimResult:
    """One DKIM-Signature's verification: ``domain`` (d=), ``selector`` (s=),
    ``algorithm`` (a=), ``ok``, ``error`` (why it failed, "" when ok),
    ``tags`` (all tags, str -> str)."""
    domain: str
    selector: str
    algorithm: str
    ok: bool
    error: str
    tags: dict


class _ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def dkim_txt_lookup(dns_port, host=LOOPBACK):
    """A dkimpy ``dnsfunc`` that asks only the DNS server at host:dns_port
    (following CNAMEs, as a receiver's resolver would).  Returns the first
    TXT record's strings joined, None when there is none."""
    import dkim

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii")
        ans = dns_lookup(name, "TXT", dns_port, host, timeout=timeout)
        if ans.rcode in ("TIMEOUT", "UNREACHABLE"):
            raise dkim.DnsTimeoutError("%s asking %s@%d for %s" % (ans.rcode, host, dns_port, name))
        return b"".join(ans.txt[0]) if ans.txt else None
    return dnsfunc


def verify_dkim(data, dns_port, host=LOOPBACK, timeout=3):
    """Verify every DKIM-Signature of message ``data`` (bytes, CRLF) with
    dkimpy, fetching keys from the DNS server at host:dns_port.

    Returns a list of ``DkimResult``, one per signature, topmost first (an
    empty list when the message has no signature).  rsa-sha256 and
    ed25519-sha256 are supported."""
    import dkim
    import dkim.util

    headers, _body = dkim.rfc822_parse(data)
    sigs = [v for k, v in headers if k.lower() == b"dkim-signature"]
    dnsfunc = dkim_txt_lookup(dns_port, host)
    results = []
    for idx, raw in enumerate(sigs):
        try:
            tags = {k.decode(): re.sub(r"\s+", "", v.decode("utf-8", "replace"))
                    for k, v in dkim.util.parse_tag_value(raw).items()}
        except Exception as exc:  # noqa: BLE001
            results.append(DkimResult("", "", "", False, "unparsable signature: %s" % exc, {}))
            continue
        logger = logging.getLogger("outpost-lab-dkim-%d" % idx)
        logger.propagate = False
        handler = _ListHandler()
        logger.handlers = [handler]
        logger.setLevel(logging.DEBUG)
        error = ""
        try:
            d = dkim.DKIM(data, logger=logger, timeout=timeout)
            ok = bool(d.verify(idx=idx, dnsfunc=dnsfunc))
        except dkim.DKIMException as exc:
            ok, error = False, "%s: %s" % (type(exc).__name__, exc)
        if not ok and not error:
            error = "; ".join(handler.messages) or "signature did not verify"
        results.append(DkimResult(tags.get("d", ""), tags.get("s", ""), tags.get("a", ""),
                                  ok, error, tags))
    return results


__all__ = [
    "LOOPBACK", "source_dir", "build_dir", "free_port", "wait_until", "tmpdir", "crlf",
    "pid_alive", "Process", "tcp_listening", "unix_listening", "share_unix_socket",
    "postfix_milter_address",
    "DnsServer", "DnsAnswer", "dns_lookup", "Sink", "SinkMessage", "Postfix", "SmtpResult",
    "RecordingMilter", "MilterSession",
    "DkimResult", "dkim_txt_lookup", "verify_dkim",
]
