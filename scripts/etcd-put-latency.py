#!/usr/bin/env python3
"""The floor under any committed decision on this machine: a lone etcd (Debian's etcd-server) on
loopback with its data on the given file system, and sequential puts from one keep-alive client
over etcd's JSON gateway; prints their latency p50/p90/p99/max. Each put is acknowledged only
after etcd's WAL fsync, so this is what one committed write costs on this disk with nothing else
queued (docs/cloud.md, "Scale").

Usage: scripts/etcd-put-latency.py [--dir /var/tmp] [--count 3000] [--value-bytes 300]"""
import argparse
import base64
import http.client
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/var/tmp", help="where etcd's data directory is made (its disk is measured)")
    ap.add_argument("--count", type=int, default=3000, help="puts to time")
    ap.add_argument("--value-bytes", type=int, default=300, help="size of each value (a VM record is a few hundred bytes)")
    a = ap.parse_args()
    if shutil.which("etcd") is None:
        sys.exit("etcd-put-latency: etcd not installed (Debian etcd-server; scripts/install-deps.sh)")
    data = tempfile.mkdtemp(prefix="nimbus-etcd-floor.", dir=a.dir)
    client, peer = free_port(), free_port()
    etcd = subprocess.Popen(
        ["etcd", "--data-dir", data, "--listen-client-urls", f"http://127.0.0.1:{client}",
         "--advertise-client-urls", f"http://127.0.0.1:{client}", "--listen-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = None
        deadline = time.monotonic() + 15
        while conn is None:
            try:
                c = http.client.HTTPConnection("127.0.0.1", client, timeout=5)
                c.request("POST", "/v3/kv/range", json.dumps({"key": "eA=="}))
                c.getresponse().read()
                conn = c
            except OSError:
                if time.monotonic() > deadline or etcd.poll() is not None:
                    sys.exit("etcd-put-latency: etcd did not start")
                time.sleep(0.1)
        value = base64.b64encode(b"x" * a.value_bytes).decode()
        lat = []
        for i in range(a.count):
            body = json.dumps({"key": base64.b64encode(f"k{i % 500}".encode()).decode(), "value": value})
            t = time.perf_counter()
            conn.request("POST", "/v3/kv/put", body)
            conn.getresponse().read()
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()

        def q(f):
            return lat[min(len(lat) - 1, int(f * len(lat)))]

        print(f"sequential puts to etcd with data in {a.dir}: n={len(lat)} p50={q(.5):.2f} ms p90={q(.9):.2f} ms "
              f"p99={q(.99):.2f} ms max={lat[-1]:.1f} ms")
    finally:
        etcd.terminate()
        etcd.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
