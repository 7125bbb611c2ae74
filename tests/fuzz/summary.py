#!/usr/bin/env python3
"""The fuzz runs of a build tree as a Markdown table (README, Reliability).

    tests/fuzz/summary.py BUILD_DIR

Reads BUILD_DIR/fuzz-work/<target>/last-run.log (written by each fuzz.<target>
test, see tests/fuzz/CMakeLists.txt) and the artifacts next to it: for each
target the seconds run, executions, executions per second, coverage (libFuzzer's
edges and features), the working corpus, and the crash/leak/timeout/oom inputs
left behind.  Exits 1 if any target left one.
"""

import glob
import os
import re
import sys


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    work = os.path.join(sys.argv[1], "fuzz-work")
    rows, bad = [], 0
    for log in sorted(glob.glob(os.path.join(work, "*", "last-run.log"))):
        target = os.path.basename(os.path.dirname(log))
        text = open(log, errors="replace").read()
        execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
        rate = re.search(r"stat::average_exec_per_sec:\s*(\d+)", text)
        secs = re.search(r"Done \d+ runs in (\d+) second", text)
        cov = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)/", text)
        found = [os.path.basename(p) for kind in ("crash", "leak", "timeout", "oom")
                 for p in glob.glob(os.path.join(os.path.dirname(log), kind + "-*"))]
        bad += len(found)
        rows.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            target, secs.group(1) if secs else "?",
            "{:,}".format(int(execs.group(1))) if execs else "?",
            "{:,}".format(int(rate.group(1))) if rate else "?",
            cov[-1][0] if cov else "?", cov[-1][1] if cov else "?",
            cov[-1][2] if cov else "?", ", ".join(found) if found else "0"))
    if not rows:
        sys.exit("no fuzz runs under %s (run ./dev fuzz or ./dev sanitize first)" % work)
    print("| target | seconds | executions | per second | coverage (edges) | features "
          "| corpus | crashes, leaks, timeouts |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
