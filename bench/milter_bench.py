#!/usr/bin/python3
"""Throughput of Postfix with outpost-milter, against baselines run side by side.

Three private Postfix instances on 127.0.0.1, identical but for their milter,
relay to one smtp-sink (C, from the postfix package, so the sink is never the
bottleneck):

  postfix    no milter                         (the ceiling)
  opendkim   OpenDKIM signing, rsa-sha256      (the usual baseline)
  outpost    outpost-milter: identify, authorize, warmup, suppress,
             List-Unsubscribe, rsa-sha256 signing

Postfix's smtp-source sends N messages of L bytes over S sessions; a run ends
when the instance's maillog shows N deliveries (status=sent). Runs alternate
between the setups, ROUNDS times, and the median rate of each is reported with
its ratio to the others, because these machines are noisy: only ratios of
runs made side by side mean anything.

Usage: bench/milter_bench.py [--messages 500] [--sessions 10] [--size 5000]
                             [--rounds 3] [--socket unix|inet]
Traffic: 127.0.0.1 only; every wait is bounded.
"""
import argparse
import base64
import os
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

DOMAIN = "bench.example"


def count_sent(pf):
    return len(re.findall(r"status=sent", pf.log()))


def run_once(pf, args, sink_port):
    before = count_sent(pf)
    t0 = time.monotonic()
    subprocess.run(["/usr/sbin/smtp-source", "-s", str(args.sessions), "-m", str(args.messages),
                    "-l", str(args.size), "-f", "sender@" + DOMAIN, "-t", "reader@example.net",
                    "127.0.0.1:%d" % pf.smtp_port], check=True, timeout=600,
                   stdout=subprocess.DEVNULL)
    lab.wait_until(lambda: count_sent(pf) - before >= args.messages, 600, 0.05,
                   "%d deliveries" % args.messages)
    return args.messages / (time.monotonic() - t0)


def start_smtp_sink(tmp):
    port = lab.free_port()
    d = os.path.join(tmp, "sink")
    os.makedirs(d)
    proc = lab.Process(["/usr/sbin/smtp-sink", "-u", "nobody", "127.0.0.1:%d" % port, "256"],
                       os.path.join(d, "log")).start()
    proc.wait_ready(lambda: lab.tcp_listening(port), 10, "smtp-sink")
    return proc, port


def start_opendkim(tmp, dns, inet):
    """OpenDKIM signing bench.example with selector obench, its public key
    published in the loopback DNS; returns (process, Postfix milter spec)."""
    d = os.path.join(tmp, "opendkim")
    os.makedirs(d)
    key = os.path.join(d, "bench.private")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    os.chmod(key, 0o600)
    pub = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    dns.add("obench._domainkey." + DOMAIN, "TXT",
            "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode())
    dns.apply()
    if inet:
        port = lab.free_port()
        socket_spec, milter = "inet:%d@127.0.0.1" % port, "inet:127.0.0.1:%d" % port
        ready = lambda: lab.tcp_listening(port)  # noqa: E731
    else:
        sock = os.path.join(d, "opendkim.sock")
        socket_spec, milter = "local:" + sock, "unix:" + sock
        ready = lambda: lab.unix_listening(sock)  # noqa: E731
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write("Syslog no\nBackground no\nMode s\nCanonicalization relaxed/relaxed\n"
                "Domain %s\nSelector obench\nKeyFile %s\nSocket %s\nUMask 000\n"
                "InternalHosts 127.0.0.1\nRequireSafeKeys false\nPidFile %s/pid\n"
                % (DOMAIN, key, socket_spec, d))
    proc = lab.Process(["/usr/sbin/opendkim", "-f", "-x", conf], os.path.join(d, "log")).start()
    proc.wait_ready(ready, 15, "opendkim on " + socket_spec)
    return proc, milter


def probe(pf, probe_sink, dns, name):
    """One message through `pf` to the probe sink: the signature each setup
    adds must verify (dkimpy), so the benchmark compares real signing."""
    probe_sink.clear()
    subprocess.run(["/usr/sbin/smtp-source", "-m", "1", "-l", "200", "-f", "sender@" + DOMAIN,
                    "-t", "check@probe.test", "127.0.0.1:%d" % pf.smtp_port], check=True,
                   timeout=60, stdout=subprocess.DEVNULL)
    msg = probe_sink.wait_for(1, 30)[0]
    results = lab.verify_dkim(msg.data, dns.port)
    if name == "postfix":
        assert not results, "postfix alone signed?"
        return "unsigned"
    assert results and all(r.ok for r in results), "%s: DKIM did not verify: %s" % (name, results)
    return ", ".join("dkim=pass s=%s a=%s" % (r.selector, r.algorithm) for r in results)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=500)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--socket", choices=["unix", "inet"], default="unix")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="outpost-bench-")
    os.chmod(tmp, 0o755)
    started = []
    try:
        sink, sink_port = start_smtp_sink(tmp)
        started.append(sink.stop)

        op = outpostlab.Outpost(tmp, milter={} if args.socket == "unix" else
                                {"listen": "inet:%d@127.0.0.1" % lab.free_port()})
        op.dns = lab.DnsServer(tmp)
        op.dns.add_zone(outpostlab.RELAY_ZONE)
        op.dns.add(outpostlab.SPF_INCLUDE, "TXT", outpostlab.RELAY_SPF)
        op.dns.start()
        started.append(op.dns.stop)
        op.write_config()
        op.tracking_init()
        op.ctl("domain", "add", DOMAIN)
        op.publish(DOMAIN)
        op.ctl("domain", "verify", DOMAIN)
        op.add_key("bench", allow=[DOMAIN], cidrs=["127.0.0.1/32"])
        op.start_milter()
        started.append(op.stop_milter)
        listen = op.config_sections()["milter"]["listen"]
        outpost_milter = ("unix:" + op.sock) if listen.startswith("unix:") else \
            "inet:127.0.0.1:%s" % listen.split(":")[1].split("@")[0]

        odk, odk_milter = start_opendkim(tmp, op.dns, args.socket == "inet")
        started.append(odk.stop)
        probe_sink = lab.Sink().start()
        started.append(probe_sink.stop)

        setups = {}
        for name, milter in (("postfix", None), ("opendkim", odk_milter),
                             ("outpost", outpost_milter)):
            pf = lab.Postfix(tmp, sink_port, milter=milter, name="pf-" + name,
                             extra={"local_header_rewrite_clients": "",
                                    "default_process_limit": "100",
                                    "transport_maps": "inline:{probe.test=smtp:[127.0.0.1]:%d}"
                                                      % probe_sink.port})
            pf.start()
            started.append(pf.stop)
            setups[name] = pf
            print("%-9s probe: %s" % (name, probe(pf, probe_sink, op.dns, name)), flush=True)

        # Warm each up (process spawn, key load), then alternate.
        warm = argparse.Namespace(**dict(vars(args), messages=20))
        for pf in setups.values():
            run_once(pf, warm, sink_port)
        rates = {n: [] for n in setups}
        for r in range(args.rounds):
            for name, pf in setups.items():
                rate = run_once(pf, args, sink_port)
                rates[name].append(rate)
                print("round %d %-9s %7.1f msg/s" % (r + 1, name, rate), flush=True)

        signed = len(re.findall(r"signed=", op.milter_log_text()))
        med = {n: statistics.median(v) for n, v in rates.items()}
        print("\n%d messages x %d rounds, %d bytes, %d sessions, milter socket %s"
              % (args.messages, args.rounds, args.size, args.sessions, args.socket))
        print("%-9s %10s %14s %14s" % ("setup", "median/s", "vs postfix", "vs opendkim"))
        for n in setups:
            print("%-9s %10.1f %13.2fx %13.2fx" % (n, med[n], med[n] / med["postfix"],
                                                   med[n] / med["opendkim"]))
        print("outpost-milter log lines with signed=: %d" % signed)
    finally:
        for stop in reversed(started):
            try:
                stop()
            except Exception:  # noqa: BLE001
                pass
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
