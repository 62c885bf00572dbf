#!/usr/bin/env python3
"""Measures the control plane at scale on one machine, through a real etcd.

Starts etcd on loopback, one controller, and simulated host agents (`nimbus host
--simulate-hosts`, one process per rack), then:
  1. creates VMs from several tenants with concurrent clients (end-to-end decisions per second,
     client-side latency p50/p99, the controller's own placement latency, etcd requests per
     decision from etcd's gRPC counters, the controller's resident memory);
  2. churns (deletes and re-creates a share of them);
  3. loses a rack (kill -9 of one rack's agent process) and times until every VM of it is
     placed on another host.
Everything runs on 127.0.0.1 with random ports and stops at the end.

Usage: scripts/measure-cloud-scale.py NIMBUS [--hosts 1000] [--racks 10] [--vms 20000]
           [--tenants 4] [--clients 16] [--churn 2000] [--lease-ttl 10] [--grace 2] [--json]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Api:
    """One keep-alive HTTP connection to the controller (one per thread)."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                data = json.dumps(body) if body is not None else None
                headers = {"Authorization": f"Bearer {self.token}"}
                if data is not None:
                    headers["Content-Type"] = "application/json"
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                try:
                    return r.status, json.loads(raw) if raw else None
                except ValueError:
                    return r.status, raw.decode(errors="replace")
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def etcd_grpc_requests(port):
    """Sum of etcd's handled gRPC requests (the JSON gateway goes through gRPC)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("grpc_server_handled_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def metric_histogram_quantile(text, name, q):
    """Quantile from a Prometheus histogram (upper bound of the bucket holding it)."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    buckets.sort()
    want = q * buckets[-1][1]
    for le, count in buckets:
        if count >= want:
            return le
    return None


def run_parallel(clients, jobs, fn):
    """Runs fn(api, job) over jobs from `clients` threads; returns [(job, status, seconds)]."""
    out, lock, it = [], threading.Lock(), iter(jobs)

    def worker(api):
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            t = time.perf_counter()
            status = fn(api, job)
            dt = time.perf_counter() - t
            with lock:
                out.append((job, status, dt))

    threads = [threading.Thread(target=worker, args=(a,)) for a in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nimbus")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--racks", type=int, default=10)
    ap.add_argument("--vms", type=int, default=20000)
    ap.add_argument("--tenants", type=int, default=4)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--churn", type=int, default=2000)
    ap.add_argument("--lease-ttl", type=int, default=10)
    ap.add_argument("--grace", type=float, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if a.hosts % a.racks:
        sys.exit("--hosts must be a multiple of --racks")
    nimbus = os.path.abspath(a.nimbus)
    work = tempfile.mkdtemp(prefix="nimbus-scale-")
    procs = []

    def stop_all():
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 15
        for p in reversed(procs):
            try:
                p.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)

    try:
        cport, pport = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{cport}"
        etcd = subprocess.Popen(
            ["etcd", "--name", "scale", "--data-dir", f"{work}/etcd", "--log-level", "warn",
             "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
             "--listen-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-cluster", f"scale=http://127.0.0.1:{pport}", "--quota-backend-bytes", str(4 << 30)],
            stdout=open(f"{work}/etcd.log", "w"), stderr=subprocess.STDOUT)
        procs.append(etcd)
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", cport, timeout=1)
                c.request("GET", "/health")
                if b"true" in c.getresponse().read():
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            sys.exit("etcd did not become healthy; see " + work + "/etcd.log")

        token = os.urandom(16).hex()
        with open(f"{work}/admin.token", "w") as f:
            f.write(token)
        os.chmod(f"{work}/admin.token", 0o600)
        ctl = subprocess.Popen(
            [nimbus, "controller", "--etcd", etcd_url, "--listen", "127.0.0.1:0", "--admin-token-file",
             f"{work}/admin.token", "--url-file", f"{work}/controller.url", "--grace", str(a.grace),
             "--consolidate-interval", "0", "--disks-dir", f"{work}/disks"],
            stdout=open(f"{work}/controller.log", "w"), stderr=subprocess.STDOUT)
        procs.append(ctl)
        for _ in range(200):
            if os.path.exists(f"{work}/controller.url") and open(f"{work}/controller.url").read().strip():
                break
            if ctl.poll() is not None:
                sys.exit("the controller exited; see " + work + "/controller.log")
            time.sleep(0.1)
        url = open(f"{work}/controller.url").read().strip()
        port = int(url.rsplit(":", 1)[1].strip("/"))
        admin = Api(port, token)

        per_rack = a.hosts // a.racks
        racks = []
        t0 = time.perf_counter()
        for r in range(a.racks):
            name = f"rack{r:02d}"
            p = subprocess.Popen(
                [nimbus, "host", "--name", name, "--etcd", etcd_url, "--simulate-hosts", str(per_rack),
                 "--harts", "64", "--memory", "256G", "--disk-gib", "4000", "--rack", name,
                 "--lease-ttl", str(a.lease_ttl), "--dir", f"{work}/{name}", "--listen", "127.0.0.1:0"],
                stdout=open(f"{work}/{name}.log", "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            racks.append((name, p))
        while True:
            status, body = admin.call("GET", "/v1/hosts")
            hosts = body.get("hosts", body) if isinstance(body, dict) else body
            if status == 200 and isinstance(hosts, list) and len(hosts) >= a.hosts:
                break
            if time.perf_counter() - t0 > 120:
                sys.exit(f"only {len(hosts) if isinstance(hosts, list) else '?'} hosts registered after 120 s")
            time.sleep(0.2)
        register_s = time.perf_counter() - t0
        log(f"{a.hosts} simulated hosts in {a.racks} racks registered in {register_s:.1f} s")

        kernel = f"{work}/Image"
        open(kernel, "wb").close()
        s, b = admin.call("POST", "/v1/images", {"name": "scale", "kernel": kernel, "mode": "emulate"})
        if s not in (200, 201):
            sys.exit(f"image create: {s} {b}")
        s, b = admin.call("GET", "/v1/flavors")
        flavors = [f["name"] for f in (b.get("flavors", b) if isinstance(b, dict) else b)]
        tenants = [f"tenant{i}" for i in range(a.tenants)]
        for t in tenants:
            s, b = admin.call("POST", "/v1/tenants", {"name": t, "quota": {
                "vcpus": 10 ** 7, "memory_mib": 10 ** 10, "vms": 10 ** 6, "disk_gib": 10 ** 8}})
            if s not in (200, 201):
                sys.exit(f"tenant create: {s} {b}")
        rng = random.Random(1)
        # Mostly small VMs, some large, as in public clouds' published size mixes.
        small = [f for f in flavors if "tiny" in f or "small" in f] or flavors
        jobs = [(tenants[i % a.tenants], f"vm{i:05d}",
                 rng.choice(small) if rng.random() < 0.8 else rng.choice(flavors)) for i in range(a.vms)]

        def create(api, job):
            tenant, name, flavor = job
            return api.call("POST", "/v1/vms", {"tenant": tenant, "name": name, "flavor": flavor, "image": "scale"})[0]

        clients = [Api(port, token) for _ in range(a.clients)]
        etcd_before = etcd_grpc_requests(cport)
        t0 = time.perf_counter()
        results = run_parallel(clients, jobs, create)
        create_s = time.perf_counter() - t0
        etcd_after = etcd_grpc_requests(cport)
        ok = [r for r in results if r[1] in (200, 201, 202)]
        failed = [r for r in results if r[1] not in (200, 201, 202)]
        lat = [r[2] * 1000 for r in ok]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", "/metrics")
        metrics = c.getresponse().read().decode()
        place_hist = [n.split(" ")[2] for n in metrics.splitlines()
                      if n.startswith("# TYPE") and "placement" in n and n.endswith("histogram")]
        ctl_p50 = ctl_p99 = None
        if place_hist:
            ctl_p50 = metric_histogram_quantile(metrics, place_hist[0], 0.5)
            ctl_p99 = metric_histogram_quantile(metrics, place_hist[0], 0.99)
        log(f"{len(ok)} creates in {create_s:.1f} s ({len(failed)} refused)")

        # Churn: delete and re-create.
        churn = min(a.churn, len(ok))
        victims = [r[0] for r in rng.sample(ok, churn)]
        t0 = time.perf_counter()
        dels = run_parallel(clients, victims,
                            lambda api, j: api.call("DELETE", f"/v1/vms/{j[1]}?tenant={j[0]}")[0])
        recs = run_parallel(clients, [(t, n + "r", f) for (t, n, f) in victims], create)
        churn_s = time.perf_counter() - t0
        churn_ok = sum(1 for r in dels if r[1] in (200, 202, 204)) + sum(1 for r in recs if r[1] in (200, 201, 202))

        # Lose a rack.
        lost_name, lost_proc = racks[0]
        s, b = admin.call("GET", "/v1/vms")
        vms = b.get("vms", b) if isinstance(b, dict) else b
        on_lost = [v for v in vms if str(v.get("host", "")).startswith(lost_name + "-")]
        lost_proc.kill()
        t0 = time.perf_counter()
        recovered_s = None
        while time.perf_counter() - t0 < 120:
            s, b = admin.call("GET", "/v1/vms")
            vms = b.get("vms", b) if isinstance(b, dict) else b
            left = [v for v in vms if str(v.get("host", "")).startswith(lost_name + "-")]
            if s == 200 and not left:
                recovered_s = time.perf_counter() - t0
                break
            time.sleep(0.25)
        ctl_rss = rss_mib(ctl.pid)

        report = {
            "hosts": a.hosts, "racks": a.racks, "tenants": a.tenants, "clients": a.clients,
            "register_seconds": round(register_s, 2),
            "creates_ok": len(ok), "creates_refused": len(failed),
            "refusals": sorted({str(r[1]) for r in failed}),
            "create_seconds": round(create_s, 2),
            "decisions_per_second": round(len(ok) / create_s, 1) if create_s else None,
            "client_latency_ms_p50": round(percentile(lat, 50), 2),
            "client_latency_ms_p99": round(percentile(lat, 99), 2),
            "controller_placement_histogram": place_hist[0] if place_hist else None,
            "controller_placement_p50_le": ctl_p50, "controller_placement_p99_le": ctl_p99,
            "etcd_requests_per_decision": round((etcd_after - etcd_before) / max(1, len(ok)), 2),
            "churn_operations_ok": churn_ok, "churn_seconds": round(churn_s, 2),
            "lost_rack_hosts": per_rack, "lost_rack_vms": len(on_lost),
            "lost_rack_recovered_seconds": round(recovered_s, 2) if recovered_s is not None else None,
            "lease_ttl": a.lease_ttl, "grace": a.grace,
            "controller_rss_mib": round(ctl_rss, 1),
        }
        if a.json:
            print(json.dumps(report, indent=2))
        else:
            for k, v in report.items():
                print(f"{k:34} {v}")
        return 0 if not failed and recovered_s is not None else 1
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
