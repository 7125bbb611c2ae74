"""What an installation of outpost contains, shared by test_install.py and
test_package.py: paths relative to the root, for the prefix /usr."""
import os

PROGRAMS = ["usr/sbin/outpost-milter", "usr/sbin/outpost-trackd", "usr/bin/outpostctl"]
# The four manual pages the package must carry (sources in man/).
MAN_PAGES = ["outpostctl.8", "outpost-milter.8", "outpost-trackd.8", "outpost.yaml.5"]
UNITS = ["outpost-milter.service", "outpost-trackd.service",
         "outpost-verify.service", "outpost-verify.timer"]
UNIT_DIR = "lib/systemd/system"
CONFIG = "etc/outpost/outpost.yaml"
DOC = "usr/share/doc/outpost"
FILES = PROGRAMS + [CONFIG] + [UNIT_DIR + "/" + u for u in UNITS] + [
    "usr/lib/sysusers.d/outpost.conf",
    "usr/lib/tmpfiles.d/outpost.conf",
    DOC + "/examples/outpost.example.yaml",
    DOC + "/README.md",
    DOC + "/postfix/README.md",
    DOC + "/postfix/main.cf.fragment",
    DOC + "/postfix/master.cf.fragment",
    DOC + "/sendmail/outpost.mc",
    DOC + "/caddy/Caddyfile",
    DOC + "/nginx/outpost-trackd.conf",
]


def man_path(page):
    return "usr/share/man/man%s/%s" % (page.rsplit(".", 1)[1], page)


def man_sources(source_dir):
    """Every man/*.8 and man/*.5 of the source tree (what the install rules
    glob), and the required pages that have no source yet."""
    d = os.path.join(source_dir, "man")
    have = sorted(f for f in (os.listdir(d) if os.path.isdir(d) else [])
                  if f.endswith((".8", ".5")))
    missing = [p for p in MAN_PAGES if p not in have]
    return have, missing
