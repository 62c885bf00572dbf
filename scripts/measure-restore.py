#!/usr/bin/env python3
"""Measures snapshot restore times (docs/migration.md, "Measured").

Usage: scripts/measure-restore.py PATH/TO/nimbus SNAPSHOT_DIR... [--runs N]

For each snapshot directory, starts `nimbus run --restore DIR --console-stdout --timeout 0.3`
N times (default 10) and prints the medians and ranges of: the time from before the exec to the
first guest instruction (the VMM prints that instant's CLOCK_MONOTONIC, which is also Python's
time.monotonic()), the time from the start of the restore (run_vmm) to the first guest
instruction, and to the VM state being restored, as the VMM reports them; and the host's
1-minute load average before and after the runs (wall-clock times on a shared machine carry its
load).
"""
import os
import re
import subprocess
import sys
import tempfile
import time


def main():
    args = sys.argv[1:]
    runs = 10
    if "--runs" in args:
        i = args.index("--runs")
        runs = int(args[i + 1])
        del args[i:i + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    nimbus, dirs = args[0], args[1:]
    pattern = re.compile(r"instruction ([0-9.]+) ms.*restored after ([0-9.]+) ms.*MONOTONIC ([0-9.]+) s")
    with tempfile.TemporaryDirectory() as state:
        for d in dirs:
            rows = []
            load_before = os.getloadavg()[0]
            for _ in range(runs):
                before = time.monotonic()
                p = subprocess.run([nimbus, "run", "--restore", d, "--console-stdout", "--state-dir", state,
                                    "--timeout", "0.3"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                m = pattern.search(p.stderr)
                if not m:
                    sys.exit(f"{d}: no resume report from nimbus:\n{p.stderr}")
                rows.append(((float(m.group(3)) - before) * 1000, float(m.group(1)), float(m.group(2))))

            def stat(k):
                values = sorted(r[k] for r in rows)
                return f"median {values[len(values) // 2]:.2f} ms ({values[0]:.2f}-{values[-1]:.2f})"

            print(f"{d} ({runs} runs, load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after):")
            print(f"  exec -> first guest instruction:         {stat(0)}")
            print(f"  restore start -> first guest instruction: {stat(1)}")
            print(f"  restore start -> VM state restored:       {stat(2)}")


if __name__ == "__main__":
    main()
