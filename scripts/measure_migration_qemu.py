#!/usr/bin/env python3
"""QEMU's side of the live-migration measurement (docs/migration.md, "Against QEMU").

Usage: scripts/measure_migration_qemu.py [--sizes 256M] [--workloads idle,cpu,dirty:16:20] [--runs N]
           [--kernel Image --initrd initramfs.cpio.gz]

Boots the same Linux guest as scripts/measure-migration.py (guests/build.sh's kernel and
initramfs, the same workloads) in qemu-system-riscv64 (`-M virt`, Debian's OpenSBI, 1 hart),
starts a second QEMU with `-incoming tcp:127.0.0.1:PORT`, migrates 2 s into the workload over
QMP (`migrate`, then `query-migrate` until it completes), and prints QEMU's own figures (total
time, downtime, RAM transferred) and the guest's clock-loop gaps read from the two serial logs,
the same way the Nimbus script reads them. The bandwidth limit is lifted (`max-bandwidth` 8 GiB/s)
and the downtime target left at QEMU's default of 300 ms, which is also Nimbus's.
"""
import argparse
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

GAP_SECONDS = 15


def wait_for(path, pattern, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open(path, errors="replace") as f:
                m = re.search(pattern, f.read())
                if m:
                    return m
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return None


def guest_paths():
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(["bash", "-c", f"source {here}/../guests/paths.sh && echo $NIMBUS_GUEST_KERNEL && "
                          "echo $NIMBUS_GUEST_INITRD"], capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def workload_append(workload):
    """The kernel command line and the console line that says the workload runs."""
    if workload == "idle":
        return "console=ttyS0 nimbus.mode=shell", r"busybox shell"
    if workload == "cpu":
        return f"console=ttyS0 nimbus.mode=gap nimbus.gap={GAP_SECONDS}", r"NIMBUS-GAP-START"
    _, mib, rate = workload.split(":")
    return f"console=ttyS0 nimbus.mode=gap nimbus.gap={GAP_SECONDS},{mib},{rate}", r"NIMBUS-GAP-START"


def guest_gaps(workload, src_log, dst_log):
    """(gap in the second the VM moved, longest gap in any other second), from the clock loop."""
    if workload == "idle":
        return None, None
    done = wait_for(dst_log, r"NIMBUS-GAP-DONE: longest gap ([0-9.]+) ms", GAP_SECONDS + 20)
    if not done:
        raise RuntimeError("the clock loop did not finish on the destination")
    pattern = r"longest gap in this second ([0-9.]+) ms"
    with open(src_log, errors="replace") as f:
        before = [float(x) for x in re.findall(pattern, f.read())]
    with open(dst_log, errors="replace") as f:
        after = [float(x) for x in re.findall(pattern, f.read())]
    others = before + after[1:]
    return (after[0] if after else float(done.group(1))), (max(others) if others else None)


class Qmp:
    def __init__(self, path, seconds=20):
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no QMP socket at {path}")
                time.sleep(0.05)
        self.buffer = b""
        self.read()  # greeting
        self.call("qmp_capabilities")

    def read(self):
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("QMP closed")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def call(self, command, **arguments):
        self.sock.sendall(json.dumps({"execute": command, "arguments": arguments}).encode() + b"\n")
        while True:
            reply = self.read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"QMP {command}: {reply['error'].get('desc')}")
            # an asynchronous event: skip


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_one(kernel, initrd, size, workload, work, qemu="qemu-system-riscv64"):
    append, ready = workload_append(workload)
    src_log, dst_log = os.path.join(work, "qemu-src.log"), os.path.join(work, "qemu-dst.log")
    src_qmp, dst_qmp = os.path.join(work, "qemu-src.qmp"), os.path.join(work, "qemu-dst.qmp")
    for p in (src_log, dst_log, src_qmp, dst_qmp):
        if os.path.exists(p):
            os.unlink(p)
    port = free_port()

    def start(log, qmp, extra):
        return subprocess.Popen([qemu, "-M", "virt", "-m", size, "-smp", "1", "-nographic", "-monitor", "none",
                                 "-serial", f"file:{log}", "-qmp", f"unix:{qmp},server=on,wait=off",
                                 "-kernel", kernel, "-initrd", initrd, "-append", append] + extra,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    dst = start(dst_log, dst_qmp, ["-incoming", f"tcp:127.0.0.1:{port}"])
    src = start(src_log, src_qmp, [])
    try:
        if not wait_for(src_log, ready, 60):
            raise RuntimeError("the guest did not start in QEMU")
        qmp = Qmp(src_qmp)
        Qmp(dst_qmp)  # the destination is listening
        qmp.call("migrate-set-parameters", **{"max-bandwidth": 8 << 30})
        time.sleep(2)
        qmp.call("migrate", uri=f"tcp:127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            info = qmp.call("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("QEMU's migration did not finish in 60 s")
            time.sleep(0.02)
        if info["status"] != "completed":
            raise RuntimeError(f"QEMU's migration {info['status']}: {info.get('error-desc', '')}")
        ram = info.get("ram", {})
        gap, other = guest_gaps(workload, src_log, dst_log)
        return {"total_ms": info.get("total-time", 0), "downtime_ms": info.get("downtime", 0),
                "bytes_sent": ram.get("transferred", 0), "rounds": ram.get("dirty-sync-count", 0),
                "guest_gap_ms": gap, "other_gap_ms": other}
    finally:
        for p in (src, dst):
            if p.poll() is None:
                p.kill()
            p.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="256M")
    parser.add_argument("--workloads", default="idle,cpu,dirty:16:20")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--kernel")
    parser.add_argument("--initrd")
    args = parser.parse_args()
    kernel, initrd = (args.kernel, args.initrd) if args.kernel else guest_paths()
    print("| VM | workload | QEMU total ms | QEMU downtime ms | MiB sent | dirty syncs | "
          "guest clock gap, switch-over second, ms | longest gap in other seconds, ms |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for size in args.sizes.split(","):
            for workload in args.workloads.split(","):
                for _ in range(args.runs):
                    try:
                        r = qemu_one(kernel, initrd, size, workload, work)
                    except RuntimeError as error:
                        print(f"| {size} | {workload} | failed: {error} ||||||")
                        continue
                    gap = "-" if r["guest_gap_ms"] is None else f"{r['guest_gap_ms']:.1f}"
                    other = "-" if r["other_gap_ms"] is None else f"{r['other_gap_ms']:.1f}"
                    print(f"| {size} | {workload} | {r['total_ms']} | {r['downtime_ms']} | "
                          f"{r['bytes_sent'] / 2**20:.1f} | {r['rounds']} | {gap} | {other} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
