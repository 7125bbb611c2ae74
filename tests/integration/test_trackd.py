"""outpost-trackd as a daemon, over real HTTP on 127.0.0.1.

A temporary installation is made with the real ``outpostctl`` (config,
``tracking init``, ``domain add``); tokens are sealed by the test-only helper
``tests/outpost-test-mint-token`` with the same secret file.  Then:

* http.client: the GIF, the 302, 404s and 405, HEAD, keep-alive, 431 for an
  oversized header, 413 for a large body, a slow client disconnected after
  tracking.timeout, 200 connections served at once, tracking.max_connections
  holding new clients in the listen queue, SIGHUP reloading the secrets,
  SIGTERM exiting 0, the privilege drop, and the start-up errors;
* headless Chromium over the DevTools protocol: the unsubscribe page renders
  with its button, loading it suppresses nothing, pressing the button
  suppresses the recipient (checked with ``outpostctl suppression list``).

Every process is started here and stopped by PID; every wait is bounded.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/build-trackd OUTPOST_SOURCE_DIR=/work/main \\
     /usr/bin/python3 -m unittest -v test_trackd
"""

import contextlib
import http.client
import json
import os
import re
import pwd
import shutil
import signal
import socket
import subprocess
import time
import unittest
import urllib.request

import lab

DOMAIN = "example.com"
OTHER = "other.org"
RECIPIENT = "jane.doe@example.net"
TRACKING_HOST = "t.relay.outpost.test"
TIMEOUT_S = 1.0            # tracking.timeout of the main instance
EXIT_CONFIG = 5
EXIT_ENVIRONMENT = 6
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0 Safari/537.36")


def trackd_path():
    return os.path.join(lab.build_dir(), "outpost-trackd")


def outpostctl_path():
    return os.path.join(lab.build_dir(), "outpostctl")


def mint_path():
    return os.path.join(lab.build_dir(), "tests", "outpost-test-mint-token")


def service_user():
    """tracking.user for this run: 'nobody' as root (trackd refuses root)."""
    if os.geteuid() != 0:
        return ""
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("nobody").pw_name
    raise unittest.SkipTest("running as root and there is no user 'nobody' to drop to")


class Installation:
    """A config, store and secret file in ``tmp``, and outpost-trackd on it."""

    def __init__(self, tmp, **tracking):
        self.tmp = tmp
        self.port = lab.free_port()
        self.config = os.path.join(tmp, "outpost.yaml")
        self.secret = os.path.join(tmp, "tracking.key")
        self.tracking = {"host": TRACKING_HOST, "listen": "127.0.0.1:%d" % self.port,
                         "secret_file": self.secret, "user": service_user(),
                         "timeout": "%dms" % int(TIMEOUT_S * 1000), "max_connections": 1024}
        self.tracking.update(tracking)
        self.proc = None
        self.write_config()

    def write_config(self):
        lines = ["store:", "  path: %s/store" % self.tmp, "  keys: %s/keys" % self.tmp,
                 "dkim:", "  rsa_bits: 1024", "tracking:"]
        lines += ['  %s: "%s"' % (k, v) if isinstance(v, str) else "  %s: %s" % (k, v)
                  for k, v in self.tracking.items()]
        with open(self.config, "w") as f:
            f.write("\n".join(lines) + "\n")

    def ctl(self, *args, check=True):
        r = subprocess.run([outpostctl_path(), "--config", self.config, *args],
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("outpostctl %s: %d\n%s%s" % (" ".join(args), r.returncode,
                                                              r.stdout, r.stderr))
        return r

    def setup_store(self):
        self.ctl("tracking", "init")
        for d in (DOMAIN, OTHER):
            self.ctl("domain", "add", d, "--algorithm", "ed25519")
        return self

    def suppressed(self, domain=DOMAIN):
        out = self.ctl("suppression", "list", domain, "--json").stdout
        return [e["address"] for e in json.loads(out)]

    def mint(self, kind, domain=DOMAIN, age=3600, **fields):
        argv = [mint_path(), "--secret-file", self.secret, "--kind", kind, "--domain", domain,
                "--age", str(age)]
        for k, v in fields.items():
            argv += ["--" + k, v]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("mint %s: %s" % (argv, r.stderr))
        return r.stdout.strip()

    def argv(self):
        return [trackd_path(), "--config", self.config, "-f"]

    def start(self, timeout=15.0):
        self.proc = lab.Process(self.argv(), os.path.join(self.tmp, "trackd.log")).start()
        self.proc.wait_ready(lambda: lab.tcp_listening(self.port), timeout,
                             "outpost-trackd on port %d" % self.port)
        return self

    def stop(self):
        return self.proc.stop() if self.proc else None

    def log(self):
        return self.proc.log() if self.proc else ""

    def conn(self, timeout=10):
        return http.client.HTTPConnection(lab.LOOPBACK, self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None):
        """One request on a fresh connection: (status, headers dict, body)."""
        c = self.conn()
        try:
            hdrs = {"User-Agent": BROWSER_UA}
            hdrs.update(headers or {})
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()


def raw_exchange(port, data, timeout=10.0):
    """Send ``data`` on a new connection and read until the server closes."""
    with socket.create_connection((lab.LOOPBACK, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)


def status_of(raw):
    line = raw.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else None


class TrackdCase(unittest.TestCase):
    """One outpost-trackd for the class (also test_trackd_load's); each test
    mints its own tokens.  ``REQUIRED``: further programs the class needs."""

    REQUIRED = ()

    @classmethod
    def setUpClass(cls):
        for path in (trackd_path(), outpostctl_path(), mint_path()) + tuple(cls.REQUIRED):
            if not os.access(path, os.X_OK):
                raise unittest.SkipTest("%s is missing (build, set OUTPOST_BUILD_DIR, or run "
                                        "./dev test, which installs it)" % path)
        cls.tmp = lab.tmpdir()
        cls.op = Installation(cls.tmp).setup_store().start()

    @classmethod
    def tearDownClass(cls):
        cls.op.stop()
        shutil.rmtree(cls.tmp, True)


class TrackdHttp(TrackdCase):
    """outpost-trackd's answers over real HTTP."""

    def test_open_pixel(self):
        status, h, body = self.op.request("GET", "/o/" + self.op.mint(
            "o", message="Q1", digest=RECIPIENT))
        self.assertEqual(status, 200)
        self.assertEqual(len(body), 43)
        self.assertTrue(body.startswith(b"GIF89a") and body.endswith(b";"))
        self.assertEqual(h["content-type"], "image/gif")
        self.assertEqual(h["content-length"], "43")
        self.assertEqual(h["cache-control"], "no-store, no-cache, must-revalidate, private")
        self.assertEqual(h["pragma"], "no-cache")
        self.assertEqual(h["server"], "outpost-trackd")

    def test_click_redirect_keeps_the_query(self):
        url = "https://shop.example.com/item?a=1&b=2"
        status, h, _ = self.op.request("GET", "/c/" + self.op.mint("c", url=url))
        self.assertEqual(status, 302)
        self.assertEqual(h["location"], url)
        self.assertEqual(h["cache-control"], "no-store")
        self.assertEqual(h["referrer-policy"], "no-referrer")
        # A scanner is redirected too.
        status, h, _ = self.op.request("GET", "/c/" + self.op.mint("c", url=url),
                                       headers={"User-Agent": "python-requests/2.31"})
        self.assertEqual((status, h["location"]), (302, url))
        lab.wait_until(lambda: "GET click 302 domain=example.com class=machine why=ua"
                       in self.op.log(), 5, what="the machine click's log line")

    def test_not_found_and_method_not_allowed(self):
        click = self.op.mint("c", url="https://a.example/")
        good = self.op.mint("u", recipient=RECIPIENT)
        bad = good[:20] + ("A" if good[20] != "A" else "B") + good[21:]
        for path in ("/o/" + click, "/u/" + click, "/u/" + bad, "/o/nonsense", "/",
                     "/favicon.ico", "/o/" + self.op.mint("o", domain="unknown.example")):
            with self.subTest(path=path[:40]):
                status, h, body = self.op.request("GET", path)
                self.assertEqual((status, body), (404, b"not found\n"))
                self.assertNotIn("location", h)
        status, h, _ = self.op.request("POST", "/o/" + click, body=b"x")
        self.assertEqual((status, h.get("allow")), (405, "GET, HEAD"))
        status, h, _ = self.op.request("PUT", "/u/" + good, body=b"x")
        self.assertEqual((status, h.get("allow")), (405, "GET, HEAD, POST"))
        log = self.op.log()
        self.assertNotIn(good[5:30], log)
        self.assertNotIn(RECIPIENT, log)

    def test_head(self):
        status, h, body = self.op.request("HEAD", "/o/" + self.op.mint("o"))
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(h["content-length"], "43")
        self.assertEqual(h["content-type"], "image/gif")
        lab.wait_until(lambda: "HEAD open 200 domain=example.com class=machine why=head"
                       in self.op.log(), 5, what="the HEAD's log line")

    def test_keep_alive(self):
        c = self.op.conn()
        try:
            c.request("GET", "/o/" + self.op.mint("o"), headers={"User-Agent": BROWSER_UA})
            r1 = c.getresponse()
            self.assertEqual((r1.status, len(r1.read())), (200, 43))
            sock = c.sock
            self.assertIsNotNone(sock, "the server closed a keep-alive connection")
            c.request("GET", "/healthz")
            r2 = c.getresponse()
            self.assertEqual((r2.status, r2.read()), (200, b"ok\n"))
            self.assertIs(c.sock, sock, "second request needed a new connection")
        finally:
            c.close()

    def test_oversized_header_is_431(self):
        req = (b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Filler: " + b"a" * 10000 + b"\r\n\r\n")
        raw = raw_exchange(self.op.port, req)
        self.assertEqual(status_of(raw), 431, raw[:200])
        lab.wait_until(lambda: "431" in self.op.log() and "why=headers" in self.op.log(), 5,
                       what="the 431 log line")

    def test_large_body_is_413(self):
        token = self.op.mint("u", recipient="big@example.net")
        req = (b"POST /u/" + token.encode() + b" HTTP/1.1\r\nHost: t\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\n"
               + b"List-Unsubscribe=One-Click&" + b"x" * 4973)
        raw = raw_exchange(self.op.port, req)
        self.assertEqual(status_of(raw), 413, raw[:200])
        self.assertNotIn("big@example.net", self.op.suppressed())

    def test_slow_client_is_disconnected(self):
        with socket.create_connection((lab.LOOPBACK, self.op.port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")   # never finished
            started = time.monotonic()
            s.settimeout(TIMEOUT_S * 5)
            try:
                data = s.recv(4096)
            except ConnectionResetError:
                data = b""
            waited = time.monotonic() - started
        self.assertEqual(data, b"", "the server answered an unfinished request")
        self.assertGreaterEqual(waited, TIMEOUT_S * 0.8)
        self.assertLess(waited, TIMEOUT_S * 4)
        lab.wait_until(lambda: "- - timeout client=127.0.0.1" in self.op.log(), 5,
                       what="the timeout log line")

    def test_200_connections_at_once(self):
        token = self.op.mint("o")
        req = ("GET /o/%s HTTP/1.1\r\nHost: t\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n"
               % (token, BROWSER_UA)).encode()
        socks = []
        try:
            for _ in range(200):
                socks.append(socket.create_connection((lab.LOOPBACK, self.op.port), timeout=15))
            for s in socks:
                s.sendall(req)
            statuses = []
            deadline = time.monotonic() + 30
            for s in socks:
                chunks = []
                while time.monotonic() < deadline:
                    b = s.recv(65536)
                    if not b:
                        break
                    chunks.append(b)
                raw = b"".join(chunks)
                statuses.append((status_of(raw), len(raw.split(b"\r\n\r\n", 1)[-1])))
        finally:
            for s in socks:
                s.close()
        self.assertEqual(statuses, [(200, 43)] * 200)

    def test_unsubscribe_one_click_over_http(self):
        addr = "one.click@example.net"
        token = self.op.mint("u", recipient=addr, message="Q7")
        status, h, body = self.op.request("GET", "/u/" + token)
        self.assertEqual(status, 200)
        self.assertEqual(h["content-security-policy"],
                         "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
        self.assertEqual(h["x-frame-options"], "DENY")
        self.assertNotIn(addr.encode(), body)
        self.assertNotIn(addr, self.op.suppressed())
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for _ in range(2):
            status, _, body = self.op.request("POST", "/u/" + token,
                                              body=b"List-Unsubscribe=One-Click", headers=form)
            self.assertEqual(status, 200, body)
        self.assertIn(addr, self.op.suppressed())
        self.assertIn(addr, self.op.suppressed())  # once, not twice
        self.assertEqual(self.op.suppressed().count(addr), 1)

    def test_tls_ask(self):
        self.assertEqual(self.op.request("GET", "/tls-ask?domain=" + TRACKING_HOST)[0], 200)
        # No verified tracking check for the domains of this installation.
        self.assertEqual(self.op.request("GET", "/tls-ask?domain=track." + DOMAIN)[0], 404)
        self.assertEqual(self.op.request("GET", "/tls-ask?domain=evil.example")[0], 404)

    def test_healthz(self):
        self.assertEqual(self.op.request("GET", "/healthz")[:3:2], (200, b"ok\n"))


class TrackdDaemon(unittest.TestCase):
    """Start, stop, reload, privileges, limits: one instance per test."""

    def setUp(self):
        for path in (trackd_path(), outpostctl_path(), mint_path()):
            if not os.access(path, os.X_OK):
                self.skipTest("%s is not built (set OUTPOST_BUILD_DIR)" % path)
        self.tmp = lab.tmpdir(self)

    def installation(self, **tracking):
        op = Installation(self.tmp, **tracking)
        self.addCleanup(op.stop)
        return op

    def start_error(self, op):
        r = subprocess.run(op.argv(), capture_output=True, text=True, timeout=30)
        return r.returncode, r.stderr

    def test_sigterm_exits_zero_and_root_is_dropped(self):
        op = self.installation().setup_store().start()
        if os.geteuid() == 0:
            # The port listens before root is dropped (the socket is opened
            # as root): wait, bounded, for the drop.
            nobody = str(pwd.getpwnam("nobody").pw_uid)

            def uids():
                with open("/proc/%d/status" % op.proc.pid) as f:
                    return [l.split()[1:] for l in f if l.startswith("Uid:")][0]
            try:
                lab.wait_until(lambda: uids() == [nobody] * 4, 10, 0.01, "root dropped")
            except TimeoutError:
                pass
            self.assertEqual(uids(), [nobody] * 4)
        self.assertEqual(op.request("GET", "/healthz")[0], 200)
        self.assertEqual(op.stop(), 0)
        self.assertIn("stopped", op.log())

    def test_sighup_reloads_the_secrets(self):
        op = self.installation().setup_store()
        if os.geteuid() == 0:
            # After the drop, the secrets are read as tracking.user: give the
            # file (mode 0640) to its group, as an installation would.
            os.chown(op.secret, 0, pwd.getpwnam(op.tracking["user"]).pw_gid)
        op.start()
        before = op.mint("o")
        op.ctl("tracking", "rotate")
        after = op.mint("o")               # sealed with the new secret
        self.assertEqual(op.request("GET", "/o/" + after)[0], 404)
        os.kill(op.proc.pid, signal.SIGHUP)
        lab.wait_until(lambda: "SIGHUP: reloaded" in op.log(), 10, what="the reload")
        self.assertEqual(op.request("GET", "/o/" + after)[0], 200)
        self.assertEqual(op.request("GET", "/o/" + before)[0], 200)
        # A reload that fails keeps what was loaded.
        os.rename(op.secret, op.secret + ".away")
        os.kill(op.proc.pid, signal.SIGHUP)
        lab.wait_until(lambda: "SIGHUP: not reloaded" in op.log(), 10, what="the failed reload")
        self.assertEqual(op.request("GET", "/o/" + after)[0], 200)
        self.assertTrue(op.proc.alive())

    def test_max_connections_holds_new_clients(self):
        op = self.installation(max_connections=2, timeout="5s").setup_store().start()
        token = op.mint("o")
        req = ("GET /o/%s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % token).encode()
        a = socket.create_connection((lab.LOOPBACK, op.port), timeout=10)
        b = socket.create_connection((lab.LOOPBACK, op.port), timeout=10)
        c = socket.create_connection((lab.LOOPBACK, op.port), timeout=10)
        try:
            time.sleep(0.3)                 # a and b take both places
            c.sendall(req)
            c.settimeout(0.7)
            with self.assertRaises(socket.timeout):
                c.recv(1)                   # c waits in the listen queue
            a.close()                       # a place frees up
            c.settimeout(3)
            self.assertEqual(status_of(c.recv(4096)), 200)
        finally:
            for s in (a, b, c):
                s.close()
        lab.wait_until(lambda: "tracking.max_connections (2) reached" in op.log(), 5,
                       what="the max_connections warning")

    def test_missing_secret_file(self):
        op = self.installation()
        op.ctl("domain", "add", DOMAIN, "--algorithm", "ed25519")
        rc, err = self.start_error(op)
        self.assertEqual(rc, EXIT_ENVIRONMENT, err)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("outpost-trackd: TRACKING_SECRET_MISSING: "), err)
        self.assertIn("outpostctl tracking init", err)

    def test_port_in_use(self):
        op = self.installation().setup_store()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((lab.LOOPBACK, op.port))
            s.listen(1)
            rc, err = self.start_error(op)
        self.assertEqual(rc, EXIT_ENVIRONMENT, err)
        self.assertTrue(err.startswith("outpost-trackd: SOCKET_ERROR: "), err)
        self.assertIn("tracking.listen", err)

    def test_bad_config(self):
        # The loader refuses a listen without a port (so outpostctl does too):
        # set up with a good one, then break it.
        op = self.installation().setup_store()
        with open(op.config) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^(\s*listen:).*$", r"\1 localhost", text)
        assert n == 1, text
        with open(op.config, "w") as f:
            f.write(text)
        rc, err = self.start_error(op)
        self.assertEqual(rc, EXIT_CONFIG, err)
        self.assertTrue(err.startswith("outpost-trackd: CONFIG_INVALID: "), err)
        with open(op.config, "a") as f:
            f.write("nonsense: [\n")
        rc, err = self.start_error(op)
        self.assertEqual(rc, EXIT_CONFIG, err)
        self.assertTrue(err.startswith("outpost-trackd: CONFIG_INVALID: "), err)

    def test_unknown_user_as_root(self):
        if os.geteuid() != 0:
            self.skipTest("needs root: as another user tracking.user is not used")
        op = self.installation(user="outpost-no-such-user").setup_store()
        rc, err = self.start_error(op)
        self.assertEqual(rc, EXIT_CONFIG, err)
        self.assertTrue(err.startswith("outpost-trackd: TRACKD_USER: "), err)
        self.assertIn("outpost-no-such-user", err)

    def test_check_config(self):
        op = self.installation().setup_store()
        r = subprocess.run([trackd_path(), "--config", op.config, "--check-config"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok", r.stdout)
        r = subprocess.run([trackd_path(), "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0)
        for word in ("--config", "--foreground", "--check-config", "/tls-ask", "SIGHUP"):
            self.assertIn(word, r.stdout)


class DevTools:
    """Headless Chromium driven over the DevTools protocol (websocket-client)."""

    def __init__(self, tmp):
        import websocket  # python3-websocket; imported here so the HTTP tests need none
        self.websocket = websocket
        self.port = lab.free_port()
        argv = [CHROMIUM, "--headless=new", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-sync", "--metrics-recording-only",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=%d" % self.port,
                "--remote-allow-origins=*", "--user-data-dir=%s" % os.path.join(tmp, "chrome"),
                "about:blank"]
        if os.geteuid() == 0:
            argv.insert(1, "--no-sandbox")
        self.proc = lab.Process(argv, os.path.join(tmp, "chromium.log")).start()
        self.ws = None
        self.next_id = 0
        try:
            self.proc.wait_ready(lambda: self._page_ws_url(), 60, "chromium's DevTools endpoint")
            self.ws = websocket.create_connection(self._page_ws_url(), timeout=20,
                                                  suppress_origin=True)
        except Exception:
            self.stop()
            raise

    def _page_ws_url(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port,
                                        timeout=2) as r:
                targets = json.load(r)
        except OSError:
            return None
        pages = [t for t in targets if t.get("type") == "page"]
        return pages[0]["webSocketDebuggerUrl"] if pages else None

    def call(self, method, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        for _ in range(10000):               # events may come before the answer
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise AssertionError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
        raise AssertionError("no answer to %s" % method)

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")

    def navigate(self, url):
        self.call("Page.navigate", url=url)

    def wait_for(self, expression, timeout=20.0, what=None):
        return lab.wait_until(lambda: self.evaluate(expression), timeout, 0.1,
                              what or expression)

    def stop(self):
        if self.ws is not None:
            with contextlib.suppress(Exception):
                self.ws.close()
        pid = self.proc.pid
        self.proc.stop(10)
        # Chromium's helpers run in its session (start_new_session): stop
        # those left behind, by PID.
        for child in lab._processes(pgrp=pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


class TrackdBrowser(unittest.TestCase):
    """The unsubscribe page in a real browser."""

    def setUp(self):
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest("chromium is not installed (Debian package chromium; ./dev test installs it)")
        for path in (trackd_path(), outpostctl_path(), mint_path()):
            if not os.access(path, os.X_OK):
                self.skipTest("%s is not built (set OUTPOST_BUILD_DIR)" % path)
        self.tmp = lab.tmpdir(self)
        self.op = Installation(self.tmp).setup_store().start()
        self.addCleanup(self.op.stop)
        self.browser = DevTools(self.tmp)
        self.addCleanup(self.browser.stop)

    def test_page_renders_get_keeps_and_button_unsubscribes(self):
        token = self.op.mint("u", recipient=RECIPIENT, message="Q42")
        url = "http://127.0.0.1:%d/u/%s" % (self.op.port, token)
        b = self.browser
        b.navigate(url)
        b.wait_for("document.readyState === 'complete' && !!document.querySelector('form button')",
                   what="the unsubscribe page")
        self.assertEqual(b.evaluate("document.querySelector('button').textContent.trim()"),
                         "Unsubscribe")
        self.assertEqual(b.evaluate("document.querySelector('form').method"), "post")
        self.assertEqual(b.evaluate("new URL(document.querySelector('form').action).pathname"),
                         "/u/" + token)
        self.assertEqual(b.evaluate("document.characterSet"), "UTF-8")
        text = b.evaluate("document.body.innerText")
        self.assertIn("example.com", text)
        self.assertIn("j\u2022\u2022\u2022@example.net", text)
        self.assertNotIn(RECIPIENT, b.evaluate("document.documentElement.outerHTML"))
        # The page styles itself under its own CSP (inline style applied).
        self.assertNotEqual(b.evaluate("getComputedStyle(document.querySelector('button'))"
                                       ".backgroundColor"), "rgba(0, 0, 0, 0)")

        # Loading (and reloading) the page suppresses nothing.
        b.navigate(url)
        b.wait_for("document.readyState === 'complete' && !!document.querySelector('form button')")
        self.assertEqual(self.op.suppressed(), [])

        b.evaluate("document.querySelector('button').click()")
        b.wait_for("document.readyState === 'complete' && "
                   "document.body.innerText.includes('You are unsubscribed')",
                   what="the confirmation after the button")
        self.assertEqual(self.op.suppressed(), [RECIPIENT])
        self.assertEqual(self.op.suppressed(OTHER), [])
        lab.wait_until(lambda: "POST unsubscribe 200 domain=example.com class=- why=page"
                       in self.op.log(), 5, what="the page unsubscribe's log line")


if __name__ == "__main__":
    unittest.main()
