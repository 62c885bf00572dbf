#!/usr/bin/env python3
"""Measures live migration over loopback (docs/migration.md, "Measured").

Usage: scripts/measure-migration.py PATH/TO/nimbus [--sizes 64M,128M,256M] [--runs N]
           [--workloads idle,cpu,dirty:64:50,dirty:64:0] [--virt emulate,trap,hw]
           [--kernel Image --initrd initramfs.cpio.gz] [--max-bandwidth MIB]

For each mode, VM size and workload, boots a Linux guest in that --virt mode (default emulate;
guests/build.sh's kernel and
initramfs unless given), starts `nimbus run --incoming tcp:127.0.0.1:0`, migrates the VM there
with `nimbus migrate vm --to ... --json` 2 s into the workload, and prints one table row: total
time, rounds, pages and bytes sent, the pages copied with the VM stopped, the throttle
auto-converge applied, the downtime as the VMM sees it (source stopped until the destination
said STARTED) and as the guest sees it: how far the destination moved the guest's clocks at
its first instruction there (the real time from the stop on the source to that instruction), and
the longest gap in `nimbus-bench gap`'s clock loop
(nimbus.mode=gap) in the second in which the VM moved, next to the longest gap of the same loop
in any other second of the run (the host's scheduling noise, and auto-converge's throttling
during pre-copy), and the host's 1-minute load average as the migration ended (the figures are
wall-clock times: on a shared machine they carry its load).
Workloads: idle (the busybox shell waits; no guest-side figure), cpu (the clock loop alone:
CPU-bound), dirty:MIB:RATE (the loop writing one byte per page of a MIB buffer at RATE MiB/s,
0 = as fast as it can). --max-bandwidth passes `nimbus migrate --max-bandwidth MIB`: a slower
link than loopback, so that a guest that dirties memory fast needs auto-converge's throttle.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


# The guest, its workloads and the clock-loop reading are shared with QEMU's side.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure_migration_qemu import guest_gaps, guest_paths, wait_for, workload_append  # noqa: E402


def one(nimbus, kernel, initrd, size, workload, work, mode="emulate", max_bandwidth=None):
    append, ready = workload_append(workload)
    src_log, dst_log, dst_err = (os.path.join(work, n) for n in ("src.log", "dst.log", "dst.err"))
    for p in (src_log, dst_log, dst_err):
        if os.path.exists(p):
            os.unlink(p)
    dst = subprocess.Popen([nimbus, "run", "--incoming", "tcp:127.0.0.1:0", "--console-stdout", "--state-dir",
                            os.path.join(work, "dst"), "--timeout", "60"], stdout=open(dst_log, "w"),
                           stderr=open(dst_err, "w"), stdin=subprocess.DEVNULL)
    src = subprocess.Popen([nimbus, "run", "--virt", mode, "--kernel", kernel, "--initrd", initrd, "--append", append,
                            "--mem", size, "--console-stdout", "--state-dir", os.path.join(work, "src"), "--timeout", "60"],
                           stdout=open(src_log, "w"), stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        port = wait_for(dst_err, r"tcp:127\.0\.0\.1:(\d+)", 10)
        if not port or not wait_for(src_log, ready, 60):
            raise RuntimeError("the guest or the destination did not start")
        time.sleep(2)
        m = subprocess.run([nimbus, "migrate", "vm", "--to", f"tcp:127.0.0.1:{port.group(1)}", "--state-dir",
                            os.path.join(work, "src"), "--json", "--timeout", "30"]
                           + (["--max-bandwidth", str(max_bandwidth)] if max_bandwidth else []),
                           capture_output=True, text=True)
        if m.returncode != 0:
            raise RuntimeError(f"migrate failed: {m.stderr.strip()}")
        report = json.loads(m.stdout)
        row = dict(report)
        row["load"] = os.getloadavg()[0]
        if workload == "idle":
            time.sleep(1)
        row["guest_gap_ms"], row["other_gap_ms"] = guest_gaps(workload, src_log, dst_log)
        # How far the destination moved the guest's clocks at its first instruction: the real time
        # from the stop on the source to that instruction, the part of the guest's gap that is the
        # switch-over itself (the rest of the gap is the host's scheduling around it).
        jump = wait_for(dst_err, r"its clocks moved on ([0-9.]+) ms", 5)
        row["clock_jump_ms"] = float(jump.group(1)) if jump else None
        return row
    finally:
        for p in (src, dst):
            if p.poll() is None:
                p.kill()
            p.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("nimbus")
    parser.add_argument("--sizes", default="64M,128M,256M")
    parser.add_argument("--workloads", default="idle,cpu,dirty:16:20,dirty:16:0")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--virt", default="emulate", help="modes to measure, comma-separated: emulate,trap,hw")
    parser.add_argument("--kernel")
    parser.add_argument("--initrd")
    parser.add_argument("--max-bandwidth", type=int, help="MiB/s pre-copy may take of the link (nimbus migrate --max-bandwidth)")
    args = parser.parse_args()
    kernel, initrd = (args.kernel, args.initrd) if args.kernel else guest_paths()
    print("| mode | VM | workload | total ms | rounds | pages sent | MiB sent | pages stopped | throttle | "
          "downtime (VMM) ms | guest clock moved at the switch-over, ms | guest clock gap, switch-over second, ms | "
          "longest gap in other seconds, ms | load average |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for mode in args.virt.split(","):
          for size in args.sizes.split(","):
            for workload in args.workloads.split(","):
                for _ in range(args.runs):
                    try:
                        r = one(args.nimbus, kernel, initrd, size, workload, work, mode, args.max_bandwidth)
                    except RuntimeError as error:
                        print(f"| {mode} | {size} | {workload} | failed: {error} ||||||||||| {os.getloadavg()[0]:.1f} |")
                        continue
                    gap = "-" if r["guest_gap_ms"] is None else f"{r['guest_gap_ms']:.1f}"
                    other = "-" if r["other_gap_ms"] is None else f"{r['other_gap_ms']:.1f}"
                    throttle = f"{r['throttle_percent']} %" if r["throttle_percent"] else "-"
                    jump = "-" if r["clock_jump_ms"] is None else f"{r['clock_jump_ms']:.1f}"
                    print(f"| {mode} | {size} | {workload} | {r['total_ms']:.0f} | {r['rounds']} | {r['pages_sent']} | "
                          f"{r['bytes_sent'] / 2**20:.1f} | {r['final_pages']} | {throttle} | {r['downtime_ms']:.1f} | {jump} | "
                          f"{gap} | {other} | {r['load']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
