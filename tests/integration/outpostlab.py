"""outpost on the loopback lab: the real milter inline in a private Postfix.

Builds on ``lab.py`` (unbound, capture sink, private Postfix, dkimpy) and adds
what the milter tests share:

* ``Outpost``       one outpost installation in a temporary directory: its
                    config file, store and DKIM keys (managed with the real
                    ``outpostctl``), the real ``outpost-milter`` process, a
                    loopback DNS server publishing every record outpostctl
                    generates, a capture sink and a Postfix with the milter.
* ``OutpostCase``   a ``unittest.TestCase`` base that starts one ``Outpost``
                    per class (``setUpClass``) and offers message builders
                    and DKIM/reply assertions.
* ``message()``     a test message (CRLF) carrying a unique token.

Run with Debian's ``/usr/bin/python3`` (dkimpy, dnspython, nacl) and
``OUTPOST_BUILD_DIR`` pointing at a build tree with ``outpostctl`` and
``outpost-milter``.  Only 127.0.0.1 is used; only processes started here are
stopped, by PID.
"""

import collections
import email.message
import email.policy
import email.utils
import http.client
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import lab

# Names used by every fixture.  The relay's SPF lives in its own zone; each
# sending domain gets a zone of its own, so unknown names answer NXDOMAIN.
RELAY_HOST = "relay.outpost.test"
RELAY_ZONE = "relay.outpost.test"
SPF_INCLUDE = "_spf.relay.outpost.test"
RELAY_IPS = ["127.0.0.1", "192.0.2.10"]
RELAY_SPF = "v=spf1 ip4:127.0.0.1 ip4:192.0.2.10 ~all"
TRACKING_HOST = "t.relay.outpost.test"
BOUNCE_HOST = "bounces.relay.outpost.test"
SANDBOX_RCPT = "sandbox@sandbox.outpost.test"

# The reply Postfix gives for a milter that is not there (milter_default_action
# = tempfail); outpost's own replies carry a reason token instead.
POSTFIX_TEMPFAIL = "4.7.1 Service unavailable - try again later"

_counter = itertools.count(1)
_counter_lock = threading.Lock()


def outpostctl_path():
    return os.path.join(lab.build_dir(), "outpostctl")


def milter_path():
    return os.path.join(lab.build_dir(), "outpost-milter")


def trackd_path():
    return os.path.join(lab.build_dir(), "outpost-trackd")


def new_token(prefix="op"):
    """A string unique to this test run, to find one message among many."""
    with _counter_lock:
        n = next(_counter)
    return "%s-%d-%06d" % (prefix, os.getpid(), n)


def message(from_hdr, to="rcpt@example.net", subject=None, body="Hello.\n", token=None,
            headers=(), key=None, date=True, message_id=True, content_type=None):
    """A message as CRLF bytes.

    ``from_hdr``: the From value (str; None: no From header).
    ``token``: put in Subject, Message-ID and body (default: a new one);
    ``headers``: extra (name, value) pairs or raw bytes lines; ``key``: an
    X-Outpost-Key secret; ``content_type``: the MIME header lines (str, CRLF
    between them; "" for none; None: text/plain UTF-8).  Returns
    ``(token, bytes)``.
    """
    token = token or new_token()
    lines = []
    if from_hdr is not None:
        lines.append(("From: %s" % from_hdr).encode())
    lines.append(("To: %s" % to).encode())
    lines.append(("Subject: %s [%s]" % (subject or "outpost test", token)).encode())
    if date:
        lines.append(("Date: %s" % email.utils.formatdate(usegmt=True)).encode())
    if message_id:
        lines.append(("Message-ID: <%s@client.outpost.test>" % token).encode())
    if key is not None:
        lines.append(("X-Outpost-Key: %s" % key).encode())
    for h in headers:
        lines.append(h if isinstance(h, bytes) else ("%s: %s" % h).encode())
    if content_type is None:
        lines.append(b"MIME-Version: 1.0")
        lines.append(b"Content-Type: text/plain; charset=utf-8")
        lines.append(b"Content-Transfer-Encoding: 7bit")
    elif content_type:
        lines.append(content_type.encode() if isinstance(content_type, str) else content_type)
    body_b = body.encode("utf-8") if isinstance(body, str) else body
    body_b = body_b + b"\ntoken " + token.encode() + b"\n"
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    return token, head + lab.crlf(body_b)


def deliveries_by_token(case, messages, token_re, skip_untokened=False):
    """The delivered messages by the one token each carries: (Counter of
    deliveries per token, {token: last message}). A message with several
    tokens fails `case`; one with none fails it too unless skip_untokened
    (a fixture's own mail)."""
    seen = collections.Counter()
    delivered = {}
    for m in messages:
        tokens = set(token_re.findall(m.data))
        if not tokens and skip_untokened:
            continue
        case.assertEqual(len(tokens), 1, m.data[:400])
        tok = tokens.pop().decode()
        seen[tok] += 1
        delivered[tok] = m
    return seen, delivered


def record_figure(tag, summary):
    """Print a run's one-line figures, and append them to $OUTPOST_FIGURES
    when set (tests/reliability.py collects them for the README)."""
    print("\n[%s] %s" % (tag, summary))
    path = os.environ.get("OUTPOST_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write("%s: %s\n" % (tag, summary))


def html_message(from_hdr, to, token, url):
    """An HTML newsletter as an ESP sends it: multipart/alternative, both
    parts quoted-printable, ``url`` linked (written with ``&amp;``), a
    second link with an entity and a fragment, mailto, fragment-only and
    ``data-outpost-notrack`` links, the unsubscribe placeholder in both
    parts, non-ASCII text.  Returns CRLF bytes."""
    domain = from_hdr.rsplit("@", 1)[1].rstrip(">")
    m = email.message.EmailMessage(policy=email.policy.SMTP)
    m["From"] = from_hdr
    m["To"] = to
    m["Subject"] = "Spring sale [%s]" % token
    m["Date"] = email.utils.formatdate(usegmt=True)
    m["Message-ID"] = "<%s@client.outpost.test>" % token
    m.set_content("Hello,\nthe sale: %s\nUnsubscribe: {{outpost_unsubscribe_url}}\ntoken %s\n"
                  % (url, token), cte="quoted-printable")
    html = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Sale</title></head>"
            "<body><p>Hello, caf\u00e9 friends: our <a href=\"%s\" class=\"btn\">spring sale</a>"
            " is on.</p>\n<p><a href='https://example.com/a?x=1&amp;y=2#frag'>second</a> "
            "<a href=\"mailto:help@%s\">help</a> <a href=\"#top\">top</a> "
            "<a href=\"https://example.com/private\" data-outpost-notrack>no track</a></p>\n"
            "<p><a href=\"{{outpost_unsubscribe_url}}\">unsubscribe</a></p>"
            "<p>token %s</p></body></html>\n"
            % (url.replace("&", "&amp;"), domain, token))
    m.add_alternative(html, subtype="html", cte="quoted-printable")
    return m.as_bytes()


def text_part(msg, subtype):
    """The first text/SUBTYPE part of a parsed message."""
    for p in msg.walk():
        if p.get_content_type() == "text/" + subtype:
            return p
    raise AssertionError("no text/%s part" % subtype)


def _yaml(value):
    """A YAML scalar or flow sequence (JSON is valid YAML)."""
    return json.dumps(value)


class Outpost:
    """One outpost installation plus the loopback mail lab around it.

    ``Outpost(tmp, milter=None, config_extra=None, postfix_extra=None)``:
    ``milter`` overrides
    ``milter.*`` keys, e.g. ``{"pending_action": "tempfail"}``;
    ``config_extra`` adds whole sections (``{"warmup": {"days": 14}}``).
    ``start(milter=True)`` starts DNS, sink, Postfix and (optionally) the
    milter; ``stop()`` stops all of them.
    """

    def __init__(self, tmp, milter=None, config_extra=None, postfix_extra=None,
                 postfix_master=()):
        self.tmp = tmp
        self.dir = os.path.join(tmp, "outpost")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.store_path = os.path.join(self.dir, "store")
        self.keys_path = os.path.join(self.dir, "keys")
        self.sock = os.path.join(self.dir, "milter.sock")
        self.config_path = os.path.join(self.dir, "outpost.yaml")
        self.secret_file = os.path.join(self.dir, "tracking.key")
        self.milter_log = os.path.join(self.dir, "milter.log")
        self.milter_overrides = dict(milter or {})
        self.config_extra = dict(config_extra or {})
        self.postfix_extra = {
            # Judge what the application sent: no canonicalization or added
            # From/Date/Message-ID for SMTP clients (a loopback client would
            # otherwise match permit_inet_interfaces).  The sendmail path is
            # still rewritten, as it always is.
            "local_header_rewrite_clients": "",
        }
        self.postfix_extra.update(postfix_extra or {})
        # master.cf lines; {outpostctl}, {config} and {inbound_port} (a free
        # port for a second, milter-less smtpd: the relay's port 25) are
        # filled in.
        self.postfix_master = list(postfix_master)
        self.inbound_port = lab.free_port()
        self.dns = None
        self.sink = None
        self.postfix = None
        self.milter = None
        self.trackd = None
        self.trackd_port = None
        self.trackd_log = os.path.join(self.dir, "trackd.log")
        self.domains = {}  # name -> records (list of dicts)

    # --- config -----------------------------------------------------------
    def config_sections(self):
        milter = {
            "listen": "unix:" + self.sock,
            "user": "",
            "unauthenticated": "reject",
            "pending_action": "reject",
            "sandbox_recipient": SANDBOX_RCPT,
            "sandbox_mode": "redirect",
            "socket_mode": "0660",
            "socket_group": "postfix",
        }
        milter.update(self.milter_overrides)
        sections = {
            "store": {"path": self.store_path, "keys": self.keys_path},
            "milter": milter,
            "relay": {"hostname": RELAY_HOST, "ips": RELAY_IPS,
                      "spf_include": SPF_INCLUDE, "bounce_host": BOUNCE_HOST},
            "dns": {"upstream": self.dns.upstream if self.dns else "127.0.0.1@53",
                    "timeout": "2s"},
            # No ramp by default; a test that wants one sets it per domain.
            "warmup": {"days": 0, "first_day": 50, "cap": 0},
            # trackd refuses to keep root: as root it drops to nobody (after
            # opening the store and reading the secrets).
            "tracking": {"host": TRACKING_HOST, "secret_file": self.secret_file,
                         "user": "nobody" if os.geteuid() == 0 else "",
                         "listen": "127.0.0.1:%d" % (self.trackd_port or 8080)},
        }
        for k, v in self.config_extra.items():
            sections.setdefault(k, {}).update(v)
        return sections

    def write_config(self):
        lines = ["# written by tests/integration/outpostlab.py"]
        for section, values in self.config_sections().items():
            lines.append("%s:" % section)
            for k, v in values.items():
                lines.append("  %s: %s" % (k, _yaml(v)))
        with open(self.config_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    # --- outpostctl -------------------------------------------------------
    def ctl(self, *args, check=True, timeout=60):
        """Run ``outpostctl --config <ours> ARGS``; returns CompletedProcess
        (text).  With ``check``, a non-zero exit raises with its output."""
        argv = [outpostctl_path(), "--config", self.config_path] + [str(a) for a in args]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("%s exited %d:\n%s%s" % (
                " ".join(argv[3:]), r.returncode, r.stdout, r.stderr))
        return r

    def ctl_json(self, *args):
        return json.loads(self.ctl(*args).stdout)

    def has_ctl_command(self, *words):
        """True if ``outpostctl WORDS --help`` documents that very command
        (CLI11 answers an unknown subcommand's --help with its parent's)."""
        r = self.ctl(*(list(words) + ["--help"]), check=False)
        return r.returncode == 0 and ("Usage: outpostctl " + " ".join(words)) in r.stdout

    def tracking_init(self):
        """Create the tracking secret with ``outpostctl tracking init``."""
        if os.path.exists(self.secret_file):
            return
        self.ctl("tracking", "init")

    def add_tenant(self, name):
        self.ctl("tenant", "add", name)

    def add_domain(self, name, tenant=None, shared=False, algorithm=None, publish=True,
                   verify=True):
        """``domain add``, then publish every record in DNS and verify it
        through ``outpostctl domain verify`` (the real path)."""
        args = ["domain", "add", name]
        if tenant:
            args += ["--tenant", tenant]
        if shared:
            args.append("--shared")
        if algorithm:
            args += ["--algorithm", algorithm]
        self.ctl(*args)
        if publish:
            self.publish(name)
        if verify:
            self.verify(name)
        return self.domain(name)

    def records(self, name):
        return json.loads(self.ctl("domain", "records", name, "--format", "json").stdout)

    def publish(self, name, apply=True):
        """Serve every record ``domain records NAME --format json`` lists."""
        recs = self.records(name)
        self.domains[name] = recs
        self.dns.add_zone(self.domain(name)["name"])  # the A-label form
        for r in recs:
            self.dns.remove(r["host"], r["type"])
        for r in recs:
            value = r.get("strings") if r["type"] == "TXT" and r.get("strings") else r["value"]
            self.dns.add(r["host"], r["type"], value)
        if apply:
            self.dns.apply()
        return recs

    def verify(self, name):
        """Verify ``name`` with ``outpostctl domain verify`` and check that it
        is verified."""
        r = self.ctl("domain", "verify", name, check=False)
        d = self.domain(name)
        if r.returncode != 0 or d.get("status") != "verified":
            raise AssertionError("domain verify %s: exit %d, status %s\n%s%s\nchecks: %s" % (
                name, r.returncode, d.get("status"), r.stdout, r.stderr,
                json.dumps(d.get("checks"), indent=1)))
        return d

    def domain(self, name):
        return json.loads(self.ctl("domain", "show", name, "--json").stdout)

    def add_key(self, name, tenant=None, allow=(), sasl=None, cidrs=(), sandbox=False):
        """``key add ... --json``; returns the secret."""
        args = ["key", "add", name, "--json"]
        if tenant:
            args += ["--tenant", tenant]
        if allow:
            args += ["--allow"] + list(allow)
        if sasl:
            args += ["--sasl", sasl]
        if cidrs:
            args += ["--cidr"] + list(cidrs)
        if sandbox:
            args.append("--sandbox")
        return json.loads(self.ctl(*args).stdout)["secret"]

    def give_store_to(self, user):
        """Give the store and the tracking secrets to ``user``, as an
        installation gives them to the outpost user (Postfix pipe transports
        refuse to run as root)."""
        import pwd
        pw = pwd.getpwnam(user)
        for root, dirs, files in os.walk(self.store_path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)
        os.chown(self.store_path, pw.pw_uid, pw.pw_gid)
        os.chown(self.secret_file, pw.pw_uid, pw.pw_gid)

    def key_file(self, domain, selector):
        return os.path.join(self.keys_path, "%s._domainkey.%s.pem" % (selector, domain))

    # --- processes --------------------------------------------------------
    def start(self, milter=True):
        self.start_lab()
        self.postfix = lab.Postfix(self.tmp, self.sink.port, milter="unix:" + self.sock,
                                   extra=self.postfix_extra,
                                   master_extra=[l.format(outpostctl=outpostctl_path(),
                                                          config=self.config_path,
                                                          inbound_port=self.inbound_port)
                                                 for l in self.postfix_master])
        self.postfix.start()
        if milter:
            self.start_milter()
        return self

    def start_lab(self):
        """Everything but the MTA: the binaries checked, the loopback DNS
        with the relay's zone, the config, the tracking secret, the sink."""
        if not os.access(outpostctl_path(), os.X_OK):
            raise AssertionError("no outpostctl in %s: build it first (./dev test does)"
                                 % lab.build_dir())
        if not os.access(milter_path(), os.X_OK):
            raise AssertionError("no outpost-milter in %s (build it with "
                                 "`make outpost-milter`)" % lab.build_dir())
        self.dns = lab.DnsServer(self.tmp)
        self.dns.add_zone(RELAY_ZONE)
        self.dns.add(SPF_INCLUDE, "TXT", RELAY_SPF)
        self.dns.add(TRACKING_HOST, "A", "127.0.0.1")
        self.dns.add(BOUNCE_HOST, "A", "127.0.0.1")
        self.dns.start()
        self.write_config()
        self.tracking_init()
        self.sink = lab.Sink().start()

    def start_milter(self, timeout=15.0):
        """Start ``outpost-milter --config FILE --foreground`` and wait for
        its socket (given group postfix and mode 0660 by the milter itself,
        so Postfix's unprivileged smtpd and cleanup can connect)."""
        if self.milter is not None and self.milter.alive():
            return self.milter
        argv = [milter_path(), "--config", self.config_path, "--foreground"]
        self.milter = lab.Process(argv, self.milter_log).start()
        listen = self.config_sections()["milter"]["listen"]
        if listen.startswith("inet:"):  # inet:PORT@ADDR
            port = int(listen[len("inet:"):].split("@")[0])
            self.milter.wait_ready(lambda: lab.tcp_listening(port), timeout,
                                   "outpost-milter on %s" % listen)
        else:
            self.milter.wait_ready(lambda: lab.unix_listening(self.sock), timeout,
                                   "outpost-milter socket %s" % self.sock)
        return self.milter

    def stop_milter(self):
        if self.milter is not None:
            self.milter.stop()

    def start_trackd(self, timeout=15.0):
        """Start ``outpost-trackd --config FILE --foreground`` on a free
        loopback port (tracking.listen) and wait until it answers."""
        if self.trackd is not None and self.trackd.alive():
            return self.trackd
        if not os.access(trackd_path(), os.X_OK):
            raise AssertionError("no outpost-trackd in %s: build it first" % lab.build_dir())
        self.trackd_port = lab.free_port()
        self.write_config()
        argv = [trackd_path(), "--config", self.config_path, "--foreground"]
        self.trackd = lab.Process(argv, self.trackd_log).start()
        self.trackd.wait_ready(lambda: lab.tcp_listening(self.trackd_port), timeout,
                               "outpost-trackd on 127.0.0.1:%d" % self.trackd_port)
        return self.trackd

    def trackd_url(self, url):
        """The URL outpost wrote (https://<tracking host>/...) as the
        loopback trackd serves it (the TLS proxy's job in production)."""
        path = "/" + url.split("://", 1)[1].split("/", 1)[1]
        return "http://127.0.0.1:%d%s" % (self.trackd_port, path)

    def trackd_log_text(self):
        return lab._read_text(self.trackd_log)

    def http(self, url, method="GET", body=None, headers=None):
        """One request to the loopback trackd for a URL outpost wrote;
        returns (response, body bytes)."""
        u = urllib.parse.urlsplit(self.trackd_url(url))
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        try:
            c.request(method, u.path + ("?" + u.query if u.query else ""), body=body,
                      headers=headers or {})
            r = c.getresponse()
            return r, r.read()
        finally:
            c.close()

    def kill_milter(self):
        """SIGKILL the milter by PID; returns once it is gone."""
        import signal
        pid = self.milter.pid
        os.kill(pid, signal.SIGKILL)
        self.milter.proc.wait(10)
        return pid

    def milter_log_text(self):
        return lab._read_text(self.milter_log)

    def stop(self):
        for stop in (lambda: self.postfix and self.postfix.stop(),
                     self.stop_milter,
                     lambda: self.trackd and self.trackd.stop(),
                     lambda: self.sink and self.sink.stop(),
                     lambda: self.dns and self.dns.stop()):
            try:
                stop()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                pass

    def kick_pickup(self):
        """Wake Postfix's pickup daemon (it rescans maildrop at once)."""
        subprocess.run([lab.POSTFIX_SBIN + "/postkick", "-c", self.postfix.config_dir,
                        "public", "pickup", "W"], capture_output=True, timeout=30)

    # --- mail -------------------------------------------------------------
    def send(self, mail_from, rcpts, data, login=None, addr=None, **kw):
        """Submit over SMTP.  ``login``: SASL login (XCLIENT LOGIN, what
        ``{auth_authen}`` shows); ``addr``: client address (XCLIENT ADDR)."""
        xclient = {}
        if addr:
            xclient["ADDR"] = addr
        if login:
            xclient["LOGIN"] = login
        return self.postfix.send(mail_from, rcpts, data, xclient=xclient or None, **kw)

    def delivered(self, token):
        """Sink messages carrying ``token``."""
        t = token.encode()
        return [m for m in self.sink.messages() if t in m.data]

    def wait_delivered(self, token, count=1, timeout=20.0):
        """Wait until ``count`` messages carrying ``token`` arrived; return them."""
        try:
            return lab.wait_until(lambda: (lambda ms: ms if len(ms) >= count else None)(
                self.delivered(token)), timeout, 0.05, "delivery of %s" % token)
        except TimeoutError as exc:
            raise AssertionError("%s\nqueue: %s\nmaillog tail:\n%s\nmilter log tail:\n%s" % (
                exc, json.dumps(self.postfix.queue())[:2000], self.postfix.log()[-3000:],
                self.milter_log_text()[-3000:])) from None

    def diagnostics(self):
        return "maillog tail:\n%s\nmilter log tail:\n%s" % (
            self.postfix.log()[-2500:], self.milter_log_text()[-2500:])


def header_list(tags):
    """The h= tag of a DKIM signature as a list of lower-case names."""
    return [h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()]


class OutpostCase(unittest.TestCase):
    """Base class: one ``Outpost`` per TestCase class.

    Subclasses set ``MILTER`` / ``CONFIG`` / ``POSTFIX`` (overrides) and
    implement ``setUpOutpost(cls, op)`` (add tenants, domains and keys; it
    runs before the milter starts).
    """

    MILTER = None
    CONFIG = None
    POSTFIX = None
    POSTFIX_MASTER = ()
    START_MILTER = True
    OUTPOST = Outpost  # the installation class (sendmaillab: SendmailOutpost)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.t0 = time.monotonic()
        tmp = tempfile.mkdtemp(prefix="outpost-itest-")
        os.chmod(tmp, 0o755)
        cls.addClassCleanup(shutil.rmtree, tmp, True)
        cls.op = cls.OUTPOST(tmp, milter=cls.MILTER, config_extra=cls.CONFIG,
                         postfix_extra=cls.POSTFIX, postfix_master=cls.POSTFIX_MASTER)
        cls.addClassCleanup(cls.op.stop)
        cls.op.start(milter=False)
        cls.setUpOutpost(cls.op)
        if cls.START_MILTER:
            cls.op.start_milter()

    @classmethod
    def setUpOutpost(cls, op):
        pass

    # --- assertions -------------------------------------------------------
    def assertReply(self, result, code, enhanced, token_word, stage=None):
        """The submission was refused with exactly ``code enhanced TOKEN ...``."""
        self.assertFalse(result.ok, "expected %d %s %s, got %s" % (
            code, enhanced, token_word, result))
        self.assertEqual(result.code, code, "%s\n%s" % (result, self.op.diagnostics()))
        self.assertRegex(result.text, r"^%s %s\b" % (re.escape(enhanced), re.escape(token_word)),
                         str(result))
        if stage:
            self.assertEqual(result.stage, stage, str(result))

    def assertNotDelivered(self, token, settle=0.0):
        """No message carrying ``token`` reached the sink (after waiting
        ``settle`` seconds and for the Postfix queue to be empty)."""
        if settle:
            time.sleep(settle)
        self.assertEqual(self.op.delivered(token), [], "message %s was delivered" % token)

    def assertAccepted(self, result):
        self.assertTrue(result.ok, "%s\n%s" % (result, self.op.diagnostics()))

    def dkim(self, msg):
        return lab.verify_dkim(msg.data, self.op.dns.port)

    def assertSigned(self, msg, domain, algorithms=("rsa-sha256",), others=()):
        """Every DKIM signature of delivered ``msg`` verifies with dkimpy
        against the loopback DNS; outpost's are one per algorithm for
        ``domain``, relaxed/relaxed, no l=, From over-signed, and cover
        List-Unsubscribe(-Post) when present; X-Outpost-Key is gone.
        ``others``: d= of further signatures expected (already on the message).
        Returns outpost's signatures' results."""
        results = self.dkim(msg)
        head = msg.data.split(b"\r\n\r\n", 1)[0]
        self.assertTrue(results, "no DKIM-Signature on delivered message:\n%s"
                        % head.decode("utf-8", "replace"))
        for r in results:
            self.assertTrue(r.ok, "DKIM signature d=%s s=%s a=%s failed: %s\nheaders:\n%s" % (
                r.domain, r.selector, r.algorithm, r.error, head.decode("utf-8", "replace")))
        ours = [r for r in results if r.domain == domain]
        self.assertEqual(sorted(r.algorithm for r in ours), sorted(algorithms),
                         "signatures: %r" % [(r.domain, r.algorithm) for r in results])
        self.assertEqual(sorted(r.domain for r in results if r.domain != domain), sorted(others))
        n_from = len(msg.headers("From"))
        for r in ours:
            h = header_list(r.tags)
            self.assertEqual(r.tags.get("c"), "relaxed/relaxed", r.tags)
            self.assertNotIn("l", r.tags, "l= tag present: %r" % r.tags)
            self.assertGreater(h.count("from"), n_from, "From not over-signed: h=%s" % r.tags["h"])
            for name in ("list-unsubscribe", "list-unsubscribe-post"):
                if msg.headers(name):
                    self.assertIn(name, h, "%s present but not signed: h=%s" % (name, r.tags["h"]))
        self.assertEqual(msg.headers("X-Outpost-Key"), [], "X-Outpost-Key was delivered")
        self.assertNotIn(b"x-outpost-key", head.lower())
        return ours
