#!/usr/bin/env python3
"""The load and fault runs behind the README's Reliability figures.

    tests/reliability.py BUILD_DIR [MESSAGES]      (./dev reliability [N])

Runs, through real Postfix on loopback, with the binaries of BUILD_DIR:
  test_load_faults   MESSAGES messages (default 5000, half HTML tracked) from
                     8 clients, outpost-milter killed with SIGKILL twice and
                     restarted: delivered exactly once, signed, none lost
  test_store_faults  the store's file system full, then freed
  test_ctl_killed    outpostctl killed in the middle of its writes
  test_milter_failure  the milter killed while Postfix sends; DKIM keys
                     missing, unreadable, removed while running
  test_faults_under_load  the DNS server gone, and the tracking secret
                     unreadable (then rotated, then restored), while
                     messages flow
and prints the one-line figures each writes.  Exits 1 if a run failed.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = ["test_load_faults", "test_store_faults", "test_ctl_killed", "test_milter_failure",
         "test_faults_under_load"]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    messages = sys.argv[2] if len(sys.argv) == 3 else "5000"
    with tempfile.NamedTemporaryFile("r", prefix="outpost-figures-", suffix=".txt") as figures:
        env = dict(os.environ, OUTPOST_BUILD_DIR=build, OUTPOST_SOURCE_DIR=os.path.dirname(HERE),
                   OUTPOST_LOAD_MESSAGES=messages, OUTPOST_FIGURES=figures.name)
        rc = subprocess.run(["/usr/bin/python3", "-m", "unittest", "-v"] + TESTS,
                            cwd=os.path.join(HERE, "integration"), env=env,
                            timeout=3600).returncode
        print("\nreliability figures (%s):" % ("all runs passed" if rc == 0 else "A RUN FAILED"))
        for line in figures.read().splitlines():
            print("  " + line)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
