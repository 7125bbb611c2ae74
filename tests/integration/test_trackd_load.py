"""outpost-trackd under a bounded load from wrk while hostile clients
work on it at the same time: 20 slow clients dribbling a header a few
octets at a time (each dropped after tracking.timeout and reconnecting) and
a client sending malformed requests in a loop (binary garbage, unknown
methods, oversized headers, bad tokens, request smuggling).  The valid
requests must all be answered (no error, no socket failure) and within the
latency budget: 99% under 250 ms, every one under 2 s, on loopback.

Bounded: wrk runs 10 s with 50 connections; the hostile threads stop with
it; loopback only.

Run: cd tests/integration &&
     OUTPOST_BUILD_DIR=/work/main/build /usr/bin/python3 -m unittest -v test_trackd_load
"""

import re
import shutil
import socket
import subprocess
import threading
import time
import unittest

import lab
import outpostlab
from test_trackd import TrackdCase

WRK = shutil.which("wrk") or "/usr/bin/wrk"
SECONDS = 10
MALFORMED = [
    b"\x00\xff\x16\x03\x01garbage\r\n\r\n",
    b"BREW /o/x HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /o/" + b"A" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /o/x HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 20000 + b"\r\n\r\n",
    b"GET /c/not-a-token HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /u/x HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /o/x HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    b"GET /o/x\r\n\r\n",
    b"GET /o/%00%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: t\r\n\r\n",
    b"\r\n\r\n\r\n",
]


def ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


class TrackdLoadTest(TrackdCase):
    REQUIRED = (WRK,)

    def test_valid_requests_keep_their_latency_under_hostile_clients(self):
        op = self.op
        token = op.mint("o")
        stop = time.monotonic() + SECONDS + 1
        counts = {"slow reconnects": 0, "malformed sent": 0, "malformed answered": 0}
        lock = threading.Lock()

        def slow_client():
            while time.monotonic() < stop:
                try:
                    with socket.create_connection((lab.LOOPBACK, op.port), timeout=5) as s:
                        with lock:
                            counts["slow reconnects"] += 1
                        for b in b"GET /o/" + token.encode() + b" HTTP/1.1\r\nHost: t\r\n":
                            if time.monotonic() > stop:
                                break
                            s.sendall(bytes([b]))
                            time.sleep(0.2)
                except OSError:
                    time.sleep(0.05)   # dropped by trackd's timeout: come back

        def malformed_client():
            i = 0
            while time.monotonic() < stop:
                data = MALFORMED[i % len(MALFORMED)]
                i += 1
                try:
                    with socket.create_connection((lab.LOOPBACK, op.port), timeout=5) as s:
                        s.sendall(data)
                        s.shutdown(socket.SHUT_WR)
                        reply = s.recv(64)
                    with lock:
                        counts["malformed sent"] += 1
                        if reply.startswith(b"HTTP/1.1 4") or reply.startswith(b"HTTP/1.1 3"):
                            counts["malformed answered"] += 1
                except OSError:
                    with lock:
                        counts["malformed sent"] += 1

        threads = [threading.Thread(target=slow_client) for _ in range(20)]
        threads.append(threading.Thread(target=malformed_client))
        for t in threads:
            t.start()
        try:
            time.sleep(0.5)
            url = "http://%s:%d/o/%s" % (lab.LOOPBACK, op.port, token)
            out = subprocess.run([WRK, "-t2", "-c50", "-d%ds" % SECONDS, "--latency",
                                  "-H", "User-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0",
                                  url], capture_output=True, text=True,
                                 timeout=SECONDS + 60).stdout
        finally:
            for t in threads:
                t.join(SECONDS + 30)
        self.assertFalse(any(t.is_alive() for t in threads), "a hostile client hung")
        self.assertTrue(op.proc.alive(), "outpost-trackd died:\n" + op.log()[-2000:])

        requests = int(re.search(r"(\d+) requests in", out).group(1))
        p = dict((k, ms(v, u)) for k, v, u in
                 re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
        peak = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s)", out)
        peak_ms = ms(peak.group(1), peak.group(2))
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        self.assertGreater(requests, 1000, out)
        self.assertIsNone(bad, "valid requests got errors:\n" + out)
        self.assertIsNone(errors, "socket errors on valid requests:\n" + out)
        self.assertLess(p["99"], 250.0, out)
        self.assertLess(peak_ms, 2000.0, out)
        self.assertGreater(counts["malformed sent"], 50, counts)
        self.assertGreater(counts["slow reconnects"], 20, counts)
        summary = ("%d valid requests in %d s from wrk (50 connections), every one answered: "
                   "p50 %.2f ms, p99 %.2f ms, max %.1f ms; meanwhile 20 slow clients (%d "
                   "connections, each dropped after tracking.timeout) and %d malformed requests "
                   "(%d answered 3xx/4xx, the rest closed)"
                   % (requests, SECONDS, p["50"], p["99"], peak_ms, counts["slow reconnects"],
                      counts["malformed sent"], counts["malformed answered"]))
        outpostlab.record_figure("trackd_load", summary)


if __name__ == "__main__":
    unittest.main()
