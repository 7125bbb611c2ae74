#!/usr/bin/python3
"""outpost-milter's cost per message, against baselines run side by side.

One private Postfix instance per setup on 127.0.0.1, identical but for its
milter, all relaying to one smtp-sink (C, from the postfix package, so the
sink is never the bottleneck):

  postfix   no milter
  noop      bench/noop_milter.cpp: a libmilter milter negotiating and
            editing as outpost does (one inserted header, two added, a new
            envelope sender, the same sizes as outpost's): the ceiling for
            any libmilter milter
  opendkim  OpenDKIM 2.11 signing, rsa-sha256, the same kind of key: the peer
  outpost   outpost-milter: identify, authorize, warmup, suppress,
            List-Unsubscribe, VERP return path, rsa-sha256 signing
  ed25519   the same, the domain signing with ed25519-sha256 only
  track     the same plus click and open tracking (HTML messages only)

Messages: text (5 KB text/plain), html (100 KB text/html with 50 links),
attach (2 MB: a text part and a base64 attachment), each sent by smtp-source
at concurrency 10 and 20. Before timing, one message through each setup is
captured and its DKIM signature verified with dkimpy (and the tracked one
checked for rewritten links). Each case runs every setup in turn, ROUNDS
times, with a fixed message count and a bounded wait; the median msg/s (and
min-max) is reported with its ratio to Postfix alone and to the no-op
milter, the milter's CPU per message (utime+stime of its process) and the
whole machine's CPU per message (/proc/stat), because these machines are
noisy: only ratios of runs made side by side mean anything.

Then peak RSS (VmHWM) of a fresh outpost-milter after 20 messages of 25 MB,
tracking off and on, and outpost's own end-of-message latency histogram
(`outpostctl stats --milter`).

Usage: bench/milter_bench.py [--socket unix|inet] [--rounds 3] [--quick]
                             [--markdown FILE]
Traffic: 127.0.0.1 only; every wait is bounded.
"""
import argparse
import base64
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
os.environ.setdefault("OUTPOST_BUILD_DIR", os.path.join(TOP, "build"))

import lab  # noqa: E402
import outpostlab  # noqa: E402

DOMAIN = "bench.example"      # outpost and OpenDKIM (rsa-sha256)
ED_DOMAIN = "ed-bench.example"  # outpost, ed25519-sha256 only
TRACK_DOMAIN = "track-bench.example"  # outpost with tracking on
HZ = os.sysconf("SC_CLK_TCK")


# --- messages ---------------------------------------------------------------
def make_message(kind, domain, path):
    head = ("From: Bench <news@%s>\nTo: reader@example.net\nSubject: bench %s\n"
            "Date: Tue, 01 Dec 2026 10:00:00 +0000\nMessage-ID: <bench-%s@%s>\nMIME-Version: 1.0\n"
            % (domain, kind, kind, domain))
    if kind == "text":
        line = "The quick brown fox jumps over the lazy dog, again and again.\n"
        body = line * (5000 // len(line))
        msg = head + "Content-Type: text/plain; charset=utf-8\n\n" + body
    elif kind == "html":
        parts = ["<html><body>\n"]
        links, size = 0, 0
        para = ("<p>Our winter collection: warm coats, scarves and boots, "
                "for every day of the season, delivered free.</p>\n")
        while size < 100000:
            if links < 50 and size % 2000 < len(para):
                parts.append('<p><a href="https://shop.example.com/item/%d?utm_source=news">item %d</a></p>\n'
                             % (links, links))
                links += 1
            parts.append(para)
            size += len(para)
        parts.append("</body></html>\n")
        msg = head + "Content-Type: text/html; charset=utf-8\n\n" + "".join(parts)
    elif kind.startswith("attach"):
        mb = 25 if kind == "attach25" else 2
        html = kind == "attach25-html"
        blob = base64.encodebytes(os.urandom(mb * 1024 * 1024 * 3 // 4)).decode()
        first = ('Content-Type: text/html; charset=utf-8\n\n<html><body>' +
                 '<p><a href="https://shop.example.com/x">link</a> text</p>\n' * 400 + '</body></html>\n'
                 if html else "Content-Type: text/plain; charset=utf-8\n\nYour file is attached.\n")
        msg = (head + 'Content-Type: multipart/mixed; boundary="b1"\n\n--b1\n' + first +
               '--b1\nContent-Type: application/octet-stream; name="data.bin"\n'
               "Content-Transfer-Encoding: base64\n\n" + blob + "--b1--\n")
    else:
        raise ValueError(kind)
    with open(path, "w") as f:
        f.write(msg)
    return path


# --- measuring ---------------------------------------------------------------
def proc_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    if not pid:
        return 0.0
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def machine_cpu():
    """Busy CPU time of the whole machine (every core), in seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / HZ


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


_sent = {}  # maillog path -> (bytes read, deliveries counted)


def count_sent(pf):
    """Deliveries in the instance's maillog so far, reading only what was
    appended since the last call (the wait loop must not cost the machine
    CPU it measures)."""
    done, n = _sent.get(pf.log_path, (0, 0))
    try:
        with open(pf.log_path, "rb") as f:
            f.seek(done)
            chunk = f.read()
    except FileNotFoundError:
        return n
    end = chunk.rfind(b"\n") + 1  # whole lines only
    n += chunk[:end].count(b"status=sent")
    _sent[pf.log_path] = (done + end, n)
    return n


def run_once(setup, path, messages, conc, domain):
    pf = setup["pf"]
    before = count_sent(pf)
    pid = setup["pid"]()
    c0, m0, t0 = proc_cpu(pid), machine_cpu(), time.monotonic()
    subprocess.run(["/usr/sbin/smtp-source", "-s", str(conc), "-m", str(messages), "-F", path,
                    "-f", "sender@" + domain, "-t", "reader@example.net",
                    "127.0.0.1:%d" % pf.smtp_port], check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    lab.wait_until(lambda: count_sent(pf) - before >= messages, 900, 0.02,
                   "%d deliveries through %s" % (messages, setup["name"]))
    dt = time.monotonic() - t0
    return {"rate": messages / dt,
            "milter_ms": 1000 * (proc_cpu(pid) - c0) / messages,
            "machine_ms": 1000 * (machine_cpu() - m0) / messages}


# --- setups ------------------------------------------------------------------
def start_smtp_sink(tmp):
    port = lab.free_port()
    d = os.path.join(tmp, "sink")
    os.makedirs(d)
    proc = lab.Process(["/usr/sbin/smtp-sink", "-u", "nobody", "127.0.0.1:%d" % port, "512"],
                       os.path.join(d, "log")).start()
    proc.wait_ready(lambda: lab.tcp_listening(port), 10, "smtp-sink")
    return proc, port


def milter_socket(tmp, name, inet):
    if inet:
        port = lab.free_port()
        return ("inet:%d@127.0.0.1" % port, "inet:127.0.0.1:%d" % port,
                lambda: lab.tcp_listening(port))
    sock = os.path.join(tmp, name + ".sock")
    return "unix:" + sock, "unix:" + sock, lambda: lab.unix_listening(sock)


def start_opendkim(tmp, dns, inet):
    """OpenDKIM signing bench.example with selector obench (RSA-2048), its
    public key in the loopback DNS; returns (process, Postfix milter spec)."""
    d = os.path.join(tmp, "opendkim")
    os.makedirs(d)
    key = os.path.join(d, "bench.private")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    os.chmod(key, 0o600)
    pub = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    dns.add("obench._domainkey." + DOMAIN, "TXT", "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode())
    dns.apply()
    spec, milter, ready = milter_socket(d, "opendkim", inet)
    spec = spec.replace("unix:", "local:")
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write("Syslog no\nBackground no\nMode s\nCanonicalization relaxed/relaxed\n"
                "Domain %s\nSelector obench\nKeyFile %s\nSocket %s\nUMask 000\n"
                "InternalHosts 127.0.0.1\nRequireSafeKeys false\nPidFile %s/pid\n"
                % (DOMAIN, key, spec, d))
    proc = lab.Process(["/usr/sbin/opendkim", "-f", "-x", conf], os.path.join(d, "log")).start()
    proc.wait_ready(ready, 15, "opendkim on " + spec)
    return proc, milter


def start_noop(tmp, inet, sizes, chgfrom):
    spec, milter, ready = milter_socket(tmp, "noop", inet)
    argv = [os.path.join(lab.build_dir(), "outpost-bench-noop-milter"), spec, "--insert", str(sizes[0])]
    for n in sizes[1:]:
        argv += ["--add", str(n)]
    if chgfrom:
        argv += ["--chgfrom", chgfrom]
    proc = lab.Process(argv, os.path.join(tmp, "noop.log")).start()
    proc.wait_ready(ready, 15, "no-op milter on " + spec)
    return proc, milter


def probe(setup, probe_sink, dns, path, domain):
    """One message through the setup to the probe sink; returns it after
    checking its signatures with dkimpy."""
    probe_sink.clear()
    subprocess.run(["/usr/sbin/smtp-source", "-m", "1", "-F", path, "-f", "sender@" + domain,
                    "-t", "check@probe.test", "127.0.0.1:%d" % setup["pf"].smtp_port], check=True,
                   timeout=60, stdout=subprocess.DEVNULL)
    [msg] = probe_sink.wait_for(1, 60)
    results = lab.verify_dkim(msg.data, dns.port)
    if setup["name"] in ("postfix", "noop"):
        assert not results, "%s signed?" % setup["name"]
        return msg, "unsigned"
    assert results and all(r.ok for r in results), "%s: DKIM did not verify: %s" % (setup["name"], results)
    return msg, ", ".join("dkim=pass a=%s" % r.algorithm for r in results)


def added_header_sizes(msg):
    """Octets of the headers outpost added ("Name: value", folds included)
    and the envelope sender it set, read off a captured message."""
    raw = msg.data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    size, current = {}, None
    for line in raw.split("\r\n"):
        if line[:1] in (" ", "\t") and current:
            size[current] += 1 + len(line)  # LF + the continuation line
            continue
        current = line.split(":", 1)[0].lower()
        if current in ("dkim-signature", "list-unsubscribe", "list-unsubscribe-post"):
            size[current] = len(line)
        else:
            current = None
    return [size["dkim-signature"], size.get("list-unsubscribe", 0), size.get("list-unsubscribe-post", 0)]


# --- main --------------------------------------------------------------------
def fmt_case(c):
    return "%s, conc %d" % (c["kind"], c["conc"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", choices=["unix", "inet"], default="unix")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a tenth of the messages, one round (a smoke run)")
    ap.add_argument("--markdown", help="append the result table to this file")
    ap.add_argument("--no-rss", action="store_true", help="skip the 25 MB peak RSS phase")
    ap.add_argument("--kinds", default="text,html,attach", help="message kinds to run (comma-separated)")
    ap.add_argument("--scale", type=int, default=1, help="message counts multiplied by this (profiling)")
    ap.add_argument("--setups", default="", help="only these setups (comma-separated; postfix and noop always run)")
    args = ap.parse_args()
    inet = args.socket == "inet"
    scale = 10 if args.quick else 1
    rounds = 1 if args.quick else args.rounds
    counts = {"text": 2000 * args.scale // scale, "html": 500 * args.scale // scale,
              "attach": 60 * args.scale // scale}
    kinds = args.kinds.split(",")

    tmp = tempfile.mkdtemp(prefix="outpost-bench-")
    os.chmod(tmp, 0o755)
    started = []
    out_lines = []

    def say(line=""):
        print(line, flush=True)
        out_lines.append(line)

    try:
        sink, sink_port = start_smtp_sink(tmp)
        started.append(sink.stop)
        probe_sink = lab.Sink().start()
        started.append(probe_sink.stop)

        op = outpostlab.Outpost(tmp, milter={} if not inet else
                                {"listen": "inet:%d@127.0.0.1" % lab.free_port()})
        op.dns = lab.DnsServer(tmp)
        op.dns.add_zone(outpostlab.RELAY_ZONE)
        op.dns.add(outpostlab.SPF_INCLUDE, "TXT", outpostlab.RELAY_SPF)
        op.dns.start()
        started.append(op.dns.stop)
        op.write_config()
        op.tracking_init()
        op.add_domain(DOMAIN)
        op.add_domain(ED_DOMAIN, algorithm="ed25519")
        op.add_domain(TRACK_DOMAIN)
        op.ctl("domain", "set", TRACK_DOMAIN, "--track-opens", "on", "--track-clicks", "on")
        op.add_key("bench", allow=[DOMAIN, ED_DOMAIN, TRACK_DOMAIN], cidrs=["127.0.0.1/32"])
        op.start_milter()
        started.append(op.stop_milter)
        listen = op.config_sections()["milter"]["listen"]
        outpost_milter = ("unix:" + op.sock) if listen.startswith("unix:") else \
            "inet:127.0.0.1:%s" % listen.split(":")[1].split("@")[0]
        odk, odk_milter = start_opendkim(tmp, op.dns, inet)
        started.append(odk.stop)

        msgs = {}
        for kind in ("text", "html", "attach"):
            for dom in (DOMAIN, ED_DOMAIN, TRACK_DOMAIN):
                msgs[(kind, dom)] = make_message(kind, dom, os.path.join(tmp, "%s-%s.eml" % (kind, dom)))

        def new_postfix(name, milter):
            pf = lab.Postfix(tmp, sink_port, milter=milter, name="pf-" + name,
                             extra={"local_header_rewrite_clients": "",
                                    "default_process_limit": "100",
                                    "message_size_limit": "0",
                                    "transport_maps": "inline:{probe.test=smtp:[127.0.0.1]:%d}"
                                                      % probe_sink.port})
            pf.start()
            started.append(pf.stop)
            return pf

        # outpost first: the no-op milter copies the size of its edits.
        setups = []
        outpost_pf = new_postfix("outpost", outpost_milter)
        setup_outpost = {"name": "outpost", "pf": outpost_pf, "pid": lambda: op.milter.pid, "domain": DOMAIN}
        m, verdict = probe(setup_outpost, probe_sink, op.dns, msgs[("text", DOMAIN)], DOMAIN)
        sizes = added_header_sizes(m)
        chgfrom = m.mail_from if "bounces+" in m.mail_from else ""
        noop, noop_milter = start_noop(tmp, inet, sizes, chgfrom)
        started.append(noop.stop)
        setups.append({"name": "postfix", "pf": new_postfix("postfix", None), "pid": lambda: None,
                       "domain": DOMAIN})
        setups.append({"name": "noop", "pf": new_postfix("noop", noop_milter), "pid": lambda: noop.pid,
                       "domain": DOMAIN})
        setups.append({"name": "opendkim", "pf": new_postfix("opendkim", odk_milter), "pid": lambda: odk.pid,
                       "domain": DOMAIN})
        setups.append(setup_outpost)
        setups.append({"name": "ed25519", "pf": outpost_pf, "pid": lambda: op.milter.pid, "domain": ED_DOMAIN})
        setups.append({"name": "track", "pf": outpost_pf, "pid": lambda: op.milter.pid, "domain": TRACK_DOMAIN,
                       "only": ("html",)})

        if args.setups:
            keep = set(args.setups.split(",")) | {"postfix", "noop"}
            setups = [s for s in setups if s["name"] in keep]
        say("## outpost-milter benchmark, milter socket %s" % args.socket)
        say()
        say("%s; %s, %d CPUs; Postfix %s" % (
            time.strftime("%Y-%m-%d"), platform.processor() or platform.machine(), os.cpu_count(),
            subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True).stdout.strip()))
        say("added by outpost (octets): DKIM-Signature %d, List-Unsubscribe %d, List-Unsubscribe-Post %d; "
            "VERP sender %s; the no-op milter makes the same edits" % (sizes[0], sizes[1], sizes[2],
                                                                       "yes" if chgfrom else "no"))
        say()
        for s in setups:
            for kind in ("text", "html"):
                if kind in s.get("only", (kind,)):
                    _, verdict = probe(s, probe_sink, op.dns, msgs[(kind, s["domain"])], s["domain"])
                    extra = ""
                    if s["name"] == "track":
                        left = _.data.count(b'href="https://shop.example.com/item/')
                        tracked = len(re.findall(rb'href="https://track\.' + re.escape(TRACK_DOMAIN.encode()), _.data))
                        assert left == 0 and tracked >= 50, "tracking rewrote %d links, left %d" % (tracked, left)
                        extra = ", %d tracking URLs" % tracked
                    say("probe %-8s %-5s %s%s" % (s["name"], kind, verdict, extra))
        say()

        cases = [{"kind": k, "conc": c} for k in kinds for c in (10, 20)]
        results = {}
        for case in cases:
            kind, conc = case["kind"], case["conc"]
            n = counts[kind]
            active = [s for s in setups if kind in s.get("only", (kind,))]
            for s in active:  # warm up: processes spawned, keys loaded
                run_once(s, msgs[(kind, s["domain"])], max(5, n // 20), conc, s["domain"])
            for r in range(rounds):
                for s in active:
                    res = run_once(s, msgs[(kind, s["domain"])], n, conc, s["domain"])
                    results.setdefault((fmt_case(case), s["name"]), []).append(res)
                    print("  %-18s round %d %-8s %7.1f msg/s  milter %.2f ms  machine %.2f ms"
                          % (fmt_case(case), r + 1, s["name"], res["rate"], res["milter_ms"], res["machine_ms"]),
                          flush=True)

        say("| case | setup | msg/s median (min–max) | vs Postfix alone | vs no-op milter | milter CPU ms/msg | machine CPU ms/msg |")
        say("|---|---|---|---|---|---|---|")
        for case in cases:
            c = fmt_case(case)
            med = {}
            for s in setups:
                rs = results.get((c, s["name"]))
                if rs:
                    med[s["name"]] = statistics.median(x["rate"] for x in rs)
            for s in setups:
                rs = results.get((c, s["name"]))
                if not rs:
                    continue
                rates = [x["rate"] for x in rs]
                say("| %s (%d msgs) | %s | %.0f (%.0f–%.0f) | %.2f | %s | %s | %.2f |" % (
                    c, counts[case["kind"]], s["name"], med[s["name"]], min(rates), max(rates),
                    med[s["name"]] / med["postfix"],
                    "%.2f" % (med[s["name"]] / med["noop"]) if s["name"] != "postfix" else "–",
                    "%.2f" % statistics.median(x["milter_ms"] for x in rs) if s["name"] != "postfix" else "–",
                    statistics.median(x["machine_ms"] for x in rs)))
            if "track" in med:
                say("| %s | track vs outpost on the same message | %.2f | | | | |" % (c, med["track"] / med["outpost"]))
        say()

        hist = json.loads(op.ctl("stats", "--milter", "--json").stdout)
        say("outpost end-of-message latency over the run (`outpostctl stats --milter`): %d messages, "
            "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms" % (hist["count"], hist["p50_ms"], hist["p99_ms"],
                                                           hist["p999_ms"]))

        if not args.no_rss and not args.quick:
            say()
            for kind in ("attach25", "attach25-html"):
                path = make_message(kind, TRACK_DOMAIN if kind.endswith("html") else DOMAIN,
                                    os.path.join(tmp, kind + ".eml"))
                dom = TRACK_DOMAIN if kind.endswith("html") else DOMAIN
                op.stop_milter()
                op.start_milter()
                before = count_sent(outpost_pf)
                subprocess.run(["/usr/sbin/smtp-source", "-s", "20", "-m", "20", "-F", path,
                                "-f", "sender@" + dom, "-t", "reader@example.net",
                                "127.0.0.1:%d" % outpost_pf.smtp_port], check=True, timeout=900,
                               stdout=subprocess.DEVNULL)
                lab.wait_until(lambda: count_sent(outpost_pf) - before >= 20, 900, 0.2, "20 x 25 MB")
                say("peak RSS of outpost-milter, 20 x 25 MB messages at once, tracking %s: %.1f MB" % (
                    "on (HTML part 22 KB)" if kind.endswith("html") else "off", vm_hwm_kb(op.milter.pid) / 1024))
        if args.markdown:
            with open(args.markdown, "a") as f:
                f.write("\n".join(out_lines) + "\n\n")
    finally:
        for stop in reversed(started):
            try:
                stop()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
