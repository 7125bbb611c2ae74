"""What the `domain verify` tests share: the relay's names and their config.

Used by test_verify.py and test_verify_dnssec.py (Debian's /usr/bin/python3).
"""

RELAY_INCLUDE = "_spf.relay.test"
RELAY_IPS = ["192.0.2.10", "2001:db8::10"]
BOUNCE_HOST = "bounces.relay.test"
TRACK_HOST = "t.relay.test"


def write_config(path, store_dir, upstream, timeout="2s", deadline="30s", trust_anchor=""):
    """An outpost.yaml for verification against the DNS server `upstream`
    (ADDR@PORT), with store and keys under `store_dir`; returns `path`."""
    with open(path, "w") as f:
        f.write("""\
store: {{ path: {d}/store, keys: {d}/keys }}
relay:
  hostname: relay.test
  ips: [{ips}]
  spf_include: {inc}
  bounce_host: {bounce}
tracking: {{ host: {track} }}
dns: {{ upstream: "{up}", timeout: {timeout}, deadline: {deadline}, trust_anchor: "{ta}" }}
dkim: {{ rsa_bits: 1024 }}
""".format(d=store_dir, ips=", ".join(RELAY_IPS), inc=RELAY_INCLUDE, bounce=BOUNCE_HOST,
           track=TRACK_HOST, up=upstream, timeout=timeout, deadline=deadline, ta=trust_anchor))
    return path
