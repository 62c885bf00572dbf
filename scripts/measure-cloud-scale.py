#!/usr/bin/env python3
"""Measures the control plane at scale on one machine, through a real etcd.

Starts etcd on loopback, one controller, and simulated host agents (`nimbus host
--simulate-hosts`, one process per rack, same etcd protocol as real agents, no VMs), then:
  1. creates VMs from several tenants with concurrent clients: end-to-end decisions per second
     (HTTP request to committed etcd transaction), client latency p50/p99, the controller's own
     placement latency p50/p99 (its histograms), etcd requests per decision (the controller's own,
     and all of etcd's gRPC requests including the agents'), the controller's resident memory;
     Also: CPU-ms per placement of each process (/proc/<pid>/stat), idle and marginal; latency
     split into (a) decision, queue wait, (b) etcd commit, committed, (c) end to end;
  2. checks invariants: no host over capacity, no quota overrun, allocs = VM records, every
     create placed or refused with a clear error code;
  2b. an open loop: creates due at a fixed rate (--open-rate), latency counted from when due;
  3. churns (deletes, timed on their own, and re-creates a share of the VMs);
  4. loses a rack (kill -9 of one rack's agent process) and times until every VM of it is placed
     on another host and until the agents report them running again.
Everything runs on 127.0.0.1 with random ports and stops at the end. Exit 0 only when every
invariant holds (a missed performance bar is reported, not failed, unless --require-bars).

Usage: scripts/measure-cloud-scale.py NIMBUS [--hosts 1000] [--racks 10] [--vms 20000]
           [--tenants 4] [--clients 16] [--churn 2000] [--open-rate 400] [--open-count 4000]
           [--lease-ttl 5] [--grace 2] [--perf DIR] [--json]
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BAR_DECISIONS_PER_SECOND = 500
BAR_P99_MS = 5.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


QUIET = False


def log(msg):
    if not QUIET:
        print(f"[scale {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Api:
    """One keep-alive HTTP connection to the controller (one per thread)."""

    def __init__(self, port, token):
        self.port, self.token = port, token
        self.conn = None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method, path, body=None):
        self.retried = False
        for attempt in range(2):
            self.retried = attempt > 0
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                # bytes: http.client then sends headers and body in one write (a str body goes in
                # a second write, which Nagle's algorithm and delayed ACKs stall for 40 ms)
                data = json.dumps(body).encode() if body is not None else None
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


def http_get_text(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    return c.getresponse().read().decode()


def etcd_grpc_requests(port):
    """Sum of etcd's handled gRPC requests (the JSON gateway goes through gRPC)."""
    total = 0.0
    for line in http_get_text(port, "/metrics").splitlines():
        if line.startswith("grpc_server_handled_total{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def proc_status_mib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User + system CPU of a process (all its threads) so far, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    """CPU seconds per role over a phase: far steadier than wall time on a shared machine,
    because what other processes take does not count."""

    def __init__(self, roles):
        self.roles = roles  # {role: [pid, ...]}
        self.start = {r: sum(cpu_seconds(p) for p in pids) for r, pids in roles.items()}

    def stop(self):
        return {r: sum(cpu_seconds(p) for p in pids) - self.start[r] for r, pids in self.roles.items()}


def _pb_fields(buf):
    """(field number, wire type, value) of one protobuf message: ints for varints, bytes otherwise."""
    i, n = 0, len(buf)

    def varint():
        nonlocal i
        shift = result = 0
        while True:
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    while i < n:
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            yield field, wire, varint()
        elif wire == 2:
            length = varint()
            yield field, wire, buf[i:i + length]
            i += length
        elif wire == 1:
            yield field, wire, buf[i:i + 8]
            i += 8
        elif wire == 5:
            yield field, wire, buf[i:i + 4]
            i += 4
        else:
            raise ValueError(f"protobuf wire type {wire}")


def _pb_ints(wire, value):
    """A repeated integer field: packed (bytes) or one varint."""
    if wire == 0:
        return [value]
    i, res = 0, []
    while i < len(value):
        shift = r = 0
        while True:
            b = value[i]
            i += 1
            r |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
        res.append(r)
    return res


def pprof_top(data, n=25):
    """Flat and cumulative CPU by function of a Go pprof CPU profile (gzipped profile.proto), as
    text lines: etcd's binary is stripped, so perf cannot name its functions but Go's own
    profiler can."""
    import gzip
    buf = gzip.decompress(data)
    strings, functions, locations, samples = [], {}, {}, []
    for field, wire, v in _pb_fields(buf):
        if field == 6:
            strings.append(v.decode(errors="replace"))
        elif field == 5:
            fid = name = 0
            for f, w, x in _pb_fields(v):
                if f == 1:
                    fid = x
                elif f == 2:
                    name = x
            functions[fid] = name
        elif field == 4:
            lid, fids = 0, []
            for f, w, x in _pb_fields(v):
                if f == 1:
                    lid = x
                elif f == 4:
                    for f2, w2, y in _pb_fields(x):
                        if f2 == 1:
                            fids.append(y)
            locations[lid] = fids
        elif field == 2:
            locs, vals = [], []
            for f, w, x in _pb_fields(v):
                if f == 1:
                    locs += _pb_ints(w, x)
                elif f == 2:
                    vals += _pb_ints(w, x)
            samples.append((locs, vals[-1] if vals else 0))
    flat, cum, total = {}, {}, 0
    for locs, val in samples:
        total += val
        names = [strings[functions.get(fid, 0)] for lid in locs for fid in locations.get(lid, [])]
        if names:
            flat[names[0]] = flat.get(names[0], 0) + val
        for name in set(names):
            cum[name] = cum.get(name, 0) + val
    lines = [f"total {total / 1e9:.2f} CPU-s", "flat:"]
    lines += [f"  {v * 100 / total:5.1f}%  {k}" for k, v in sorted(flat.items(), key=lambda kv: -kv[1])[:n]]
    lines.append("cumulative:")
    lines += [f"  {v * 100 / total:5.1f}%  {k}" for k, v in sorted(cum.items(), key=lambda kv: -kv[1])[:n * 2]]
    return "\n".join(lines) if total else "empty profile"


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def histogram(text, name):
    """{le: cumulative count} and count of a Prometheus histogram."""
    buckets = []
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    return buckets


def histogram_delta(before, after):
    b = dict(before)
    return [(le, c - b.get(le, 0.0)) for le, c in after]


def histogram_quantile(buckets, q):
    """As Prometheus' histogram_quantile: linear interpolation inside the bucket (seconds)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    want = q * buckets[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= want:
            if le == float("inf"):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (want - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return None


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def run_parallel(clients, jobs, fn):
    """Runs fn(api, job) over jobs from `clients` threads; returns [(job, (status, body), seconds)]."""
    out, lock, it = [], threading.Lock(), iter(jobs)

    def worker(api):
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            t = time.perf_counter()
            try:
                res = fn(api, job)
            except Exception as e:  # noqa: BLE001 - reported as a failed request
                res = (0, {"code": "client_error", "error": str(e)})
            dt = time.perf_counter() - t
            with lock:
                out.append((job, res, dt))

    threads = [threading.Thread(target=worker, args=(a,)) for a in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def run_open_loop(port, token, jobs, rate, threads, fn):
    """Open loop: job i is due at start + i / rate whatever happened to the others; its latency
    counts from when it was due (so a late start is waiting too). Returns (results, seconds)."""
    out, lock, nxt = [], threading.Lock(), [0]
    start = time.perf_counter() + 0.2

    def worker():
        api = Api(port, token)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(jobs):
                return
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            try:
                res = fn(api, jobs[i])
            except Exception as e:  # noqa: BLE001 - reported as a failed request
                res = (0, {"code": "client_error", "error": str(e)})
            dt = time.perf_counter() - due
            with lock:
                out.append((jobs[i], res, dt))

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out, time.perf_counter() - start


# The controller's latency histograms, one row each in the report.
LATENCIES = [
    ("decision", "nimbus_placement_decision_seconds", "(a) decision: choosing the host in the placement cache"),
    ("queue", "nimbus_placement_queue_seconds", "    waiting for the batch ahead to commit"),
    ("commit", "nimbus_placement_commit_seconds", "(b) commit: the etcd txn of its batch"),
    ("committed", "nimbus_placement_latency_seconds", "    request in -> committed, in the controller"),
]


def ms(x):
    return round(x * 1000, 3) if x is not None else None


def latency_summary(m_before, m_after, client_seconds):
    """p50/p99 (ms) of each controller histogram over a phase, and (c) the clients' end to end."""
    out = {}
    for key, metric, _ in LATENCIES:
        h = histogram_delta(histogram(m_before, metric), histogram(m_after, metric))
        out[key] = {"p50": ms(histogram_quantile(h, 0.5)), "p99": ms(histogram_quantile(h, 0.99))}
    lat = [x * 1000 for x in client_seconds]
    out["end_to_end"] = {"p50": round(percentile(lat, 50), 3), "p99": round(percentile(lat, 99), 3),
                         "mean": round(sum(lat) / len(lat), 3) if lat else None}
    return out


def code_of(res):
    status, body = res
    code = body.get("code") if isinstance(body, dict) else None
    return f"{status} {code}" if code else str(status)


def check_fleet(admin, quota_tenants):
    """Invariants from the controller's API: hosts within capacity, usage within quota,
    allocs agree with the VM records. Returns (problems, hosts, vms)."""
    problems = []
    s, hosts = admin.call("GET", "/v1/hosts")
    if s != 200:
        return [f"GET /v1/hosts: {s}"], [], []
    s, vms = admin.call("GET", "/v1/vms")
    if s != 200:
        return [f"GET /v1/vms: {s}"], hosts, []
    for h in hosts:
        cap, used = h["capacity"], h["allocated"]
        for k in ("vcpus", "memory_mib", "disk_gib"):
            if used.get(k, 0) > cap.get(k, 0):
                problems.append(f"host {h['name']} over capacity: {k} {used.get(k, 0)} > {cap.get(k, 0)}")
    per_host = {}
    per_tenant = {}
    for v in vms:
        per_host.setdefault(v["host"], [0, 0])
        per_host[v["host"]][0] += 1
        per_host[v["host"]][1] += v["vcpus"]
        t = per_tenant.setdefault(v["tenant"], [0, 0, 0, 0])
        t[0] += v["vcpus"]
        t[1] += v["memory_mib"]
        t[2] += 1
        t[3] += v.get("disk_gib", 0)
    for h in hosts:
        n, c = per_host.get(h["name"], [0, 0])
        if n != h["vms"] or c != h["allocated"]["vcpus"]:
            problems.append(f"host {h['name']}: alloc says {h['vms']} VMs / {h['allocated']['vcpus']} vCPUs, "
                            f"records say {n} / {c}")
    s, tenants = admin.call("GET", "/v1/tenants")
    for t in tenants if s == 200 else []:
        if t["name"] not in quota_tenants:
            continue
        q, u = t["quota"], t["usage"]
        for k in ("vcpus", "memory_mib", "vms", "disk_gib"):
            if u.get(k, 0) > q.get(k, 0):
                problems.append(f"tenant {t['name']} over quota: {k} {u.get(k, 0)} > {q.get(k, 0)}")
        exp = per_tenant.get(t["name"], [0, 0, 0, 0])
        got = [u.get("vcpus", 0), u.get("memory_mib", 0), u.get("vms", 0), u.get("disk_gib", 0)]
        if exp != got:
            problems.append(f"tenant {t['name']}: usage {got} but its VM records sum to {exp}")
    return problems, hosts, vms


def main():
    global QUIET
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nimbus")
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--racks", type=int, default=10)
    ap.add_argument("--vms", type=int, default=20000)
    ap.add_argument("--tenants", type=int, default=4)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--churn", type=int, default=2000)
    ap.add_argument("--open-rate", type=float, default=400,
                    help="after the closed-loop creates, creates offered at this fixed rate per second (open loop), "
                         "to see latency where queueing does not dominate; 0: skip")
    ap.add_argument("--open-count", type=int, default=4000, help="creates of the open-loop phase")
    ap.add_argument("--open-threads", type=int, default=32,
                    help="client threads (connections) of the open loop: a create due while all are busy waits, "
                         "and that wait counts in its latency")
    ap.add_argument("--host-vcpus", type=int, default=16, help="vCPUs of each simulated host (the controller places 4 per CPU)")
    ap.add_argument("--host-memory", default="64G")
    ap.add_argument("--lease-ttl", type=int, default=5)
    ap.add_argument("--grace", type=float, default=2)
    ap.add_argument("--quota-vcpus", type=int, default=10 ** 7, help="each tenant's vCPU quota")
    ap.add_argument("--max-batch", type=int, default=24, help="the controller's --max-batch")
    ap.add_argument("--max-batches-in-flight", type=int, default=None,
                    help="the controller's --max-batches-in-flight (default: the controller's own; "
                         "not passed, so older binaries without the option run too)")
    ap.add_argument("--etcd-max-txn-ops", type=int, default=128, help="etcd's --max-txn-ops (and the controller's)")
    ap.add_argument("--etcd-dir", help="etcd data directory (default: in the work dir, on disk)")
    ap.add_argument("--recover-timeout", type=float, default=180)
    ap.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    ap.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ap.add_argument("--require-bars", action="store_true", help="exit 1 when a performance bar is missed")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--perf", metavar="DIR",
                    help="record `perf record -g` profiles of etcd, the controller and one agent during the "
                         "closed-loop create phase into DIR, and etcd's own CPU profile (--enable-pprof) for "
                         "--perf-seconds (etcd-top.txt); the CPU figures of such a run include the profilers' cost")
    ap.add_argument("--perf-seconds", type=int, default=20)
    a = ap.parse_args()
    QUIET = a.quiet
    if a.hosts % a.racks:
        sys.exit("--hosts must be a multiple of --racks")
    nimbus = os.path.abspath(a.nimbus)
    work = tempfile.mkdtemp(prefix="nimbus-scale-")
    etcd_dir = a.etcd_dir or f"{work}/etcd"
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
                p.wait()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
            if a.etcd_dir:
                shutil.rmtree(etcd_dir, ignore_errors=True)
        else:
            log(f"work directory kept: {work}")

    try:
        cport, pport = free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{cport}"
        etcd = subprocess.Popen(
            ["etcd", "--name", "scale", "--data-dir", etcd_dir, "--log-level", "warn",
             "--listen-client-urls", etcd_url, "--advertise-client-urls", etcd_url,
             "--listen-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{pport}",
             "--initial-cluster", f"scale=http://127.0.0.1:{pport}", "--quota-backend-bytes", str(4 << 30),
             "--max-txn-ops", str(a.etcd_max_txn_ops)] + (["--enable-pprof"] if a.perf else []),
            stdout=open(f"{work}/etcd.log", "w"), stderr=subprocess.STDOUT)
        procs.append(etcd)
        for _ in range(100):
            try:
                if b"true" in http_get_text(cport, "/health").encode():
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
             "--consolidate-interval", "0", "--disks-dir", f"{work}/disks", "--max-batch", str(a.max_batch),
             "--etcd-max-txn-ops", str(a.etcd_max_txn_ops)]
            + (["--max-batches-in-flight", str(a.max_batches_in_flight)] if a.max_batches_in_flight else []),
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
        for _ in range(100):
            s, b = admin.call("GET", "/v1/health")
            if s == 200 and b.get("leader"):
                break
            time.sleep(0.1)

        per_rack = a.hosts // a.racks
        racks = []
        t0 = time.perf_counter()
        for r in range(a.racks):
            name = f"rack{r:02d}"
            p = subprocess.Popen(
                [nimbus, "host", "--name", name, "--etcd", etcd_url, "--simulate-hosts", str(per_rack),
                 "--harts", str(a.host_vcpus), "--memory", a.host_memory, "--disk-gib", "4000", "--rack", name,
                 "--lease-ttl", str(a.lease_ttl), "--dir", f"{work}/{name}", "--listen", "127.0.0.1:0"],
                stdout=open(f"{work}/{name}.log", "w"), stderr=subprocess.STDOUT)
            procs.append(p)
            racks.append((name, p))
        hosts = []
        while True:
            status, hosts = admin.call("GET", "/v1/hosts")
            up = [h for h in hosts if h.get("state") == "up"] if status == 200 else []
            if len(up) >= a.hosts:
                break
            if time.perf_counter() - t0 > 120:
                sys.exit(f"only {len(up)} of {a.hosts} hosts registered after 120 s")
            time.sleep(0.2)
        register_s = time.perf_counter() - t0
        log(f"{a.hosts} simulated hosts in {a.racks} racks registered in {register_s:.1f} s")

        # An image (simulated agents never read the kernel) and the tenants.
        kernel = f"{work}/Image"
        open(kernel, "wb").close()
        s, b = admin.call("POST", "/v1/images", {"name": "scale", "kernel": kernel, "mode": "emulate"})
        if s != 201:
            sys.exit(f"POST /v1/images: {s} {b}")
        s, b = admin.call("GET", "/v1/flavors")
        flavors = [f["name"] for f in b]
        tenants = [f"tenant{i}" for i in range(a.tenants)]
        for t in tenants:
            s, b = admin.call("POST", "/v1/tenants", {"name": t, "quota": {
                "vcpus": a.quota_vcpus, "memory_mib": 10 ** 10, "vms": 10 ** 6, "disk_gib": 10 ** 8}})
            if s != 201:
                sys.exit(f"POST /v1/tenants: {s} {b}")
        rng = random.Random(1)
        # Mostly small VMs, some larger, as in public clouds' published size mixes.
        small = [f for f in flavors if "tiny" in f or "small" in f] or flavors
        jobs = [(tenants[i % a.tenants], f"vm{i:05d}",
                 rng.choice(small) if rng.random() < 0.8 else rng.choice(flavors)) for i in range(a.vms)]

        def create(api, job):
            tenant, name, flavor = job
            res = api.call("POST", "/v1/vms", {"tenant": tenant, "name": name, "flavor": flavor, "image": "scale"})
            code = res[1].get("code") if isinstance(res[1], dict) else None
            if (api.retried and res[0] == 409) or code in ("etcd_unavailable", "etcd_outcome_unknown"):
                # Outcome unknown to the client, so look: the connection broke after the request
                # went out (the server closes keep-alive connections after 5 requests or 5 s
                # idle) and the retry found the name taken; or the controller's etcd request
                # timed out (2 s) while etcd went on to commit it. Counted as created once seen.
                s, b = api.call("GET", f"/v1/vms/{name}?tenant={tenant}")
                if s == 200:
                    retried_created.append((name, code or "409 after retry"))
                    return 201, b
            return res

        clients = [Api(port, token) for _ in range(a.clients)]
        retried_created = []
        m_before = http_get_text(port, "/metrics")
        etcd_before = etcd_grpc_requests(cport)
        etcd_m_before = http_get_text(cport, "/metrics")
        roles = {"controller": [ctl.pid], "etcd": [etcd.pid], "agents": [p.pid for _, p in racks],
                 "client": [os.getpid()]}
        perfs = []
        if a.perf:
            os.makedirs(a.perf, exist_ok=True)
            # Frame-pointer stacks only (dwarf unwinding costs the profiled processes too much):
            # the flat profile by symbol is what counts.
            for role, pid in (("controller", ctl.pid), ("agent", racks[-1][1].pid)):
                perfs.append(subprocess.Popen(["perf", "record", "-F", "99", "-g", "-p", str(pid), "-o",
                                               f"{os.path.abspath(a.perf)}/{role}.data"],
                                              stdout=subprocess.DEVNULL, stderr=open(f"{a.perf}/{role}.log", "w")))

            def etcd_pprof():
                try:
                    c = http.client.HTTPConnection("127.0.0.1", cport, timeout=a.perf_seconds + 30)
                    c.request("GET", f"/debug/pprof/profile?seconds={a.perf_seconds}")
                    body = c.getresponse().read()
                    with open(f"{a.perf}/etcd.pprof", "wb") as f:
                        f.write(body)
                    with open(f"{a.perf}/etcd-top.txt", "w") as f:
                        f.write(pprof_top(body) + "\n")
                except Exception as e:  # noqa: BLE001 - the profile is optional
                    log(f"etcd profile failed: {e}")

            pprof_thread = threading.Thread(target=etcd_pprof)
            pprof_thread.start()
            time.sleep(1)
        log(f"creating {a.vms} VMs from {a.tenants} tenants with {a.clients} concurrent clients")
        meter = CpuMeter(roles)
        t0 = time.perf_counter()
        results = run_parallel(clients, jobs, create)
        create_s = time.perf_counter() - t0
        create_cpu = meter.stop()
        for p in perfs:
            p.send_signal(signal.SIGINT)
        for p in perfs:
            p.wait()
        if a.perf:
            pprof_thread.join()
        etcd_after = etcd_grpc_requests(cport)
        etcd_m_after = http_get_text(cport, "/metrics")
        m_after = http_get_text(port, "/metrics")
        ok = [r for r in results if r[1][0] == 201]
        refused = [r for r in results if r[1][0] != 201]
        refusal_codes = {}
        for r in refused:
            refusal_codes[code_of(r[1])] = refusal_codes.get(code_of(r[1]), 0) + 1
        lat_closed = latency_summary(m_before, m_after, [r[2] for r in ok])
        etcd_hist = histogram_delta(histogram(m_before, "nimbus_etcd_request_seconds"),
                                    histogram(m_after, "nimbus_etcd_request_seconds"))
        ctl_etcd = (metric_value(m_after, "nimbus_etcd_request_seconds_count")
                    - metric_value(m_before, "nimbus_etcd_request_seconds_count"))
        conflicts = metric_value(m_after, "nimbus_txn_conflicts_total") - metric_value(m_before, "nimbus_txn_conflicts_total")
        rebuilds = (metric_value(m_after, "nimbus_placement_cache_rebuilds_total")
                    - metric_value(m_before, "nimbus_placement_cache_rebuilds_total"))
        rss_after_create = proc_status_mib(ctl.pid, "VmRSS")

        def delta(text_before, text_after, name):
            return metric_value(text_after, name) - metric_value(text_before, name)

        # Where a commit's time goes inside etcd: its WAL fsync and its backend (bbolt) commit,
        # each a histogram of etcd's own over the create phase.
        etcd_disk = {}
        for key, name in (("wal_fsync", "etcd_disk_wal_fsync_duration_seconds"),
                          ("backend_commit", "etcd_disk_backend_commit_duration_seconds")):
            h = histogram_delta(histogram(etcd_m_before, name), histogram(etcd_m_after, name))
            etcd_disk[key] = {"count": int(delta(etcd_m_before, etcd_m_after, name + "_count")),
                              "p50_ms": ms(histogram_quantile(h, 0.5)), "p99_ms": ms(histogram_quantile(h, 0.99))}
        # The controller's create transactions: how many, how many decided while another was in
        # flight (pipelined), how many refused by their compares (0 on binaries without them).
        batches = {k: int(delta(m_before, m_after, f"nimbus_create_batches{sfx}_total"))
                   for k, sfx in (("sent", ""), ("chained", "_chained"), ("refused", "_refused"))}
        batches["creates_per_batch"] = round(len(ok) / batches["sent"], 1) if batches["sent"] else None
        log(f"{len(ok)} creates in {create_s:.1f} s ({len(ok) / create_s:.0f}/s), {len(refused)} refused {refusal_codes}")

        # Background CPU (status publishing, keepalives, the leader's rounds) goes on whether or
        # not anything is created; measured idle, it is taken out of the marginal cost below.
        idle_s = 5.0
        meter = CpuMeter(roles)
        time.sleep(idle_s)
        idle_cpu = {r: v / idle_s for r, v in meter.stop().items()}  # CPU-seconds per second
        problems, hosts, vms = check_fleet(admin, set(tenants))
        if len(vms) != len(ok):
            problems.append(f"{len(ok)} creates answered 201 but the controller lists {len(vms)} VMs")
        unclear = [r for r in refused if not (isinstance(r[1][1], dict) and r[1][1].get("code") and r[1][1].get("error"))]
        if unclear:
            problems.append(f"{len(unclear)} refusals without a code and message, e.g. {unclear[0][1]}")
        log(f"invariants after creates: {'ok' if not problems else problems[:5]}")

        # Open loop: a fixed offered rate, below saturation.
        open_report = None
        open_ok = []
        if a.open_rate > 0 and a.open_count > 0:
            ojobs = [(tenants[i % a.tenants], f"o{i:05d}",
                      rng.choice(small) if rng.random() < 0.8 else rng.choice(flavors)) for i in range(a.open_count)]
            # The controller serves each keep-alive connection on one of its 64 API threads until
            # it closes: the closed loop's idle connections would hold them.
            for c in clients:
                c.close()
            log(f"open loop: {a.open_count} creates offered at {a.open_rate:g}/s from {a.open_threads} connections")
            m0 = http_get_text(port, "/metrics")
            meter = CpuMeter(roles)
            ores, open_s = run_open_loop(port, token, ojobs, a.open_rate, a.open_threads, create)
            open_cpu = meter.stop()
            m1 = http_get_text(port, "/metrics")
            open_ok = [r for r in ores if r[1][0] == 201]
            lat_open = latency_summary(m0, m1, [r[2] for r in open_ok])
            open_report = {
                "refusals": {c: sum(1 for r in ores if r[1][0] != 201 and code_of(r[1]) == c)
                             for c in {code_of(r[1]) for r in ores if r[1][0] != 201}},
                "offered_per_second": a.open_rate, "threads": a.open_threads, "creates_ok": len(open_ok), "creates_refused": len(ores) - len(open_ok),
                "achieved_per_second": round(len(open_ok) / open_s, 1) if open_s else None,
                "latency_ms": lat_open,
                "cpu_ms_per_placement": {r: round(v * 1000 / max(1, len(open_ok)), 3) for r, v in open_cpu.items()},
            }
            log(f"open loop: {len(open_ok)} placed in {open_s:.1f} s; end to end p50/p99 "
                f"{lat_open['end_to_end']['p50']}/{lat_open['end_to_end']['p99']} ms")
            p_open, hosts, vms = check_fleet(admin, set(tenants))
            problems += p_open
            if len(vms) != len(ok) + len(open_ok):
                problems.append(f"after the open loop: expected {len(ok) + len(open_ok)} VMs, the controller lists {len(vms)}")

        # Churn: delete and re-create.
        churn = min(a.churn, len(ok))
        victims = [r[0] for r in rng.sample(ok, churn)]
        m0 = http_get_text(port, "/metrics")
        meter = CpuMeter(roles)
        t0 = time.perf_counter()
        def delete(api, j):
            # As for creates: when the outcome is unknown to the client (a DELETE resent after
            # its connection broke finds the VM gone, or the controller's etcd request timed
            # out while etcd went on to commit), look, and count it deleted once it is gone.
            tenant, name = j[0], j[1]
            status, body = api.call("DELETE", f"/v1/vms/{name}?tenant={tenant}")
            code = body.get("code") if isinstance(body, dict) else None
            if (api.retried and status == 404) or code in ("etcd_unavailable", "etcd_outcome_unknown"):
                s, b = api.call("GET", f"/v1/vms/{name}?tenant={tenant}")
                if s == 404 or (s == 200 and isinstance(b, dict) and b.get("state") == "deleted"):
                    retried_deleted.append((name, code or "404 after retry"))
                    return 200, body
            return status, body

        retried_deleted = []

        dels = run_parallel(clients, victims, delete)
        delete_s = time.perf_counter() - t0
        delete_cpu = meter.stop()
        m1 = http_get_text(port, "/metrics")
        recs = run_parallel(clients, [(t, n + "r", f) for (t, n, f) in victims], create)
        churn_s = time.perf_counter() - t0
        dels_ok = sum(1 for r in dels if r[1][0] == 200)
        recs_ok = sum(1 for r in recs if r[1][0] == 201)
        del_hist = histogram_delta(histogram(m0, "nimbus_delete_latency_seconds"), histogram(m1, "nimbus_delete_latency_seconds"))
        del_lat = [r[2] * 1000 for r in dels if r[1][0] == 200]
        delete_report = {
            "deleted": dels_ok, "seconds": round(delete_s, 2),
            "per_second": round(dels_ok / delete_s, 1) if delete_s else None,
            "controller_latency_ms": {"p50": ms(histogram_quantile(del_hist, 0.5)), "p99": ms(histogram_quantile(del_hist, 0.99))},
            "end_to_end_ms": {"p50": round(percentile(del_lat, 50), 3), "p99": round(percentile(del_lat, 99), 3)},
            "cpu_ms_per_delete": {r: round(v * 1000 / max(1, dels_ok), 3) for r, v in delete_cpu.items()},
        }
        p2, hosts, vms = check_fleet(admin, set(tenants))
        problems += p2
        expect_vms = len(ok) + len(open_ok) - dels_ok + recs_ok
        if len(vms) != expect_vms:
            problems.append(f"after churn: expected {expect_vms} VMs, the controller lists {len(vms)}")
        failed = {}
        for _, (status, body), _ in dels:
            if status != 200:
                key = f"{status} {body.get('code', '') if isinstance(body, dict) else ''}".strip()
                failed[key] = failed.get(key, 0) + 1
        log(f"churn: {dels_ok}/{churn} deleted, {recs_ok}/{churn} re-created in {churn_s:.1f} s"
            + (f"; deletes not answered 200: {failed}" if failed else ""))

        # Lose a rack: kill -9 of the agent process playing its hosts.
        lost_name, lost_proc = racks[0]
        lost_hosts = {h["name"] for h in hosts if h["name"].startswith(lost_name + "-")}
        on_lost = {v["id"]: v for v in vms if v["host"] in lost_hosts}
        lost_proc.kill()
        t_kill = time.perf_counter()
        log(f"killed {lost_name} ({len(lost_hosts)} hosts, {len(on_lost)} VMs)")
        replaced_s = running_s = None
        while time.perf_counter() - t_kill < a.recover_timeout:
            s, hs = admin.call("GET", "/v1/hosts")
            if s == 200 and replaced_s is None:
                if sum(h["vms"] for h in hs if h["name"] in lost_hosts) == 0 and \
                        all(h["state"] == "lost" for h in hs if h["name"] in lost_hosts):
                    replaced_s = time.perf_counter() - t_kill
                    log(f"every VM of {lost_name} re-placed after {replaced_s:.1f} s")
            if replaced_s is not None:
                s, vs = admin.call("GET", "/v1/vms")
                moved = [v for v in vs if v["id"] in on_lost] if s == 200 else []
                if s == 200 and all(v["state"] == "running" for v in moved):
                    running_s = time.perf_counter() - t_kill
                    log(f"and reported running by their new hosts after {running_s:.1f} s")
                    break
                time.sleep(0.75)  # listing every VM is heavy: poll it less often
            time.sleep(0.25)
        p3, hosts, vms = check_fleet(admin, set(tenants))
        problems += p3
        by_id = {v["id"]: v for v in vms}
        for vid, before in on_lost.items():
            v = by_id.get(vid)
            if v is None:
                problems.append(f"VM {before['tenant']}/{before['name']} of the lost rack disappeared")
            elif v["host"] in lost_hosts:
                problems.append(f"VM {v['tenant']}/{v['name']} still on lost host {v['host']}")
            elif v["generation"] <= before["generation"]:
                problems.append(f"VM {v['tenant']}/{v['name']} moved without a new generation")
        if replaced_s is None:
            problems.append(f"the lost rack's VMs were not all re-placed within {a.recover_timeout:.0f} s")
        ctl_rss = proc_status_mib(ctl.pid, "VmRSS")
        ctl_hwm = proc_status_mib(ctl.pid, "VmHWM")

        dps = len(ok) / create_s if create_s else 0.0
        cpu_ms = {r: round(v * 1000 / max(1, len(ok)), 3) for r, v in create_cpu.items()}
        server_ms = cpu_ms["controller"] + cpu_ms["etcd"] + cpu_ms["agents"]
        all_ms = server_ms + cpu_ms["client"]
        ncpu = os.cpu_count() or 1
        marginal_ms = {r: round(max(0.0, create_cpu[r] - idle_cpu[r] * create_s) * 1000 / max(1, len(ok)), 3)
                       for r in create_cpu}
        marginal_server = marginal_ms["controller"] + marginal_ms["etcd"] + marginal_ms["agents"]
        little_ms = a.clients / dps * 1000 if dps else None
        bars_p99 = {k: (v["p99"] is not None and v["p99"] <= BAR_P99_MS)
                    for k, v in lat_closed.items() if k in ("decision", "commit", "committed", "end_to_end")}
        if open_report:
            bars_p99["end_to_end_open_loop"] = open_report["latency_ms"]["end_to_end"]["p99"] <= BAR_P99_MS
            bars_p99["committed_open_loop"] = (open_report["latency_ms"]["committed"]["p99"] or 1e9) <= BAR_P99_MS
            bars_p99["decision_open_loop"] = (open_report["latency_ms"]["decision"]["p99"] or 1e9) <= BAR_P99_MS
        # The bar's p99 is the placement decision's; a decision *committed* waits for etcd's WAL
        # fsync too, so its p99 cannot be below the disk's fsync p99, reported beside it.
        judged = "decision" + ("_open_loop" if open_report else "")
        report = {
            "max_batch": a.max_batch, "etcd_max_txn_ops": a.etcd_max_txn_ops,
            "hosts": a.hosts, "racks": a.racks, "host_vcpus": a.host_vcpus, "tenants": a.tenants,
            "clients": a.clients, "vms_requested": a.vms,
            "etcd_data_dir": "tmpfs" if etcd_dir.startswith("/dev/shm") else "disk",
            "register_seconds": round(register_s, 2),
            "creates_ok": len(ok), "creates_refused": len(refused), "refusals": refusal_codes,
            "create_seconds": round(create_s, 2),
            "decisions_per_second": round(dps, 1),
            # (a) decision, queue, (b) commit, committed (controller), (c) end_to_end (client)
            "latency_ms": lat_closed,
            "littles_law_mean_ms": round(little_ms, 1) if little_ms else None,
            "open_loop": open_report,
            "deletes": delete_report,
            "cpu_ms_per_placement": cpu_ms,
            "cpu_ms_per_placement_server": round(server_ms, 3),
            "cpu_ms_per_placement_all": round(all_ms, 3),
            "cpus": ncpu,
            "idle_cpu_percent": {r: round(v * 100, 1) for r, v in idle_cpu.items()},
            # per placement beyond the idle background, which a faster run spreads thinner
            "marginal_cpu_ms_per_placement": marginal_ms,
            "marginal_cpu_ms_per_placement_server": round(marginal_server, 3),
            # What the CPU alone allows with every core busy and nothing else running: an upper
            # bound (it ignores serial sections, e.g. etcd's one apply loop, and idle waits).
            "cpu_bound_placements_per_second_server": round(ncpu * 1000 / server_ms, 1) if server_ms else None,
            "cpu_bound_placements_per_second_all": round(ncpu * 1000 / all_ms, 1) if all_ms else None,
            "controller_etcd_request_ms_p50": ms(histogram_quantile(etcd_hist, 0.5)),
            "controller_etcd_request_ms_p99": ms(histogram_quantile(etcd_hist, 0.99)),
            "controller_etcd_requests_per_decision": round(ctl_etcd / max(1, len(ok)), 3),
            "etcd_requests_per_decision_all_clients": round((etcd_after - etcd_before) / max(1, len(ok)), 3),
            "create_batches": batches,
            "etcd_disk_ms": etcd_disk,
            "txn_conflicts": int(conflicts),
            "placement_cache_rebuilds": int(rebuilds),
            "controller_rss_mib_after_creates": round(rss_after_create, 1),
            "churn_deleted": dels_ok, "churn_recreated": recs_ok, "churn_seconds": round(churn_s, 2),
            "lost_rack_hosts": len(lost_hosts), "lost_rack_vms": len(on_lost),
            "lease_ttl_seconds": a.lease_ttl, "grace_seconds": a.grace,
            "lost_rack_replaced_seconds": round(replaced_s, 2) if replaced_s is not None else None,
            "lost_rack_running_seconds": round(running_s, 2) if running_s is not None else None,
            "controller_rss_mib": round(ctl_rss, 1), "controller_peak_rss_mib": round(ctl_hwm, 1),
            "bar_decisions_per_second": BAR_DECISIONS_PER_SECOND, "bar_decision_p99_ms": BAR_P99_MS,
            "bar_decisions_met": dps >= BAR_DECISIONS_PER_SECOND,
            "bar_p99_met": bars_p99,
            # The issue's "p99 decision <= 5 ms" (beside ">= 500 placements/s end to end through
            # etcd") is judged on the placement decision: choosing the host in the controller's
            # cache (docs/cloud.md, "Scale"); the decision committed in etcd (request received ->
            # transaction committed) and the clients' view are reported beside it, with etcd's WAL
            # fsync p99, the floor under any committed figure on this disk.
            "bar_p99_judged_on": judged,
            "bar_p99_decision_met": bars_p99[judged],
            "committed_p99_floor_wal_fsync_ms": etcd_disk["wal_fsync"]["p99_ms"],
            # creates answered 409 after a retry or 503 etcd_unavailable, then found created
            "creates_confirmed_after_unknown_outcome": {c: sum(1 for _, x in retried_created if x == c)
                                                        for c in {x for _, x in retried_created}},
            # deletes answered 404 after a retry or 503 etcd_outcome_unknown, then found gone
            "deletes_confirmed_after_unknown_outcome": {c: sum(1 for _, x in retried_deleted if x == c)
                                                        for c in {x for _, x in retried_deleted}},
            "invariant_problems": problems,
        }
        if a.json:
            print(json.dumps(report, indent=2))
        else:
            rows = [
                ("hosts (racks)", f"{a.hosts} ({a.racks} agents, {a.host_vcpus} vCPUs each)"),
                ("VMs created / refused", f"{len(ok)} / {len(refused)} {refusal_codes or ''}"),
                ("decisions/s end to end", f"{dps:.0f}  (bar >= {BAR_DECISIONS_PER_SECOND}: "
                                           f"{'met' if report['bar_decisions_met'] else 'MISSED'})"),
                ("latency p50 / p99 (closed loop)", f"{a.clients} clients; bar: decision p99 <= {BAR_P99_MS} ms "
                                                    f"({'met' if bars_p99[judged] else 'MISSED'}, judged on {judged})"),
            ]
            for key, _, what in LATENCIES:
                v = lat_closed[key]
                mark = "" if key == "queue" else f"  {'met' if bars_p99[key] else 'MISSED'}"
                rows.append((what, f"{v['p50']} / {v['p99']} ms{mark}"))
            e2e = lat_closed["end_to_end"]
            rows += [
                ("(c) end to end (client)", f"{e2e['p50']} / {e2e['p99']} ms  {'met' if bars_p99['end_to_end'] else 'MISSED'}"),
                ("    Little's law", f"mean {e2e['mean']} ms measured; {a.clients} clients / {dps:.0f} per s = "
                                     f"{report['littles_law_mean_ms']} ms: the clients queue"),
            ]
            if open_report:
                lo = open_report["latency_ms"]
                rows += [
                    (f"open loop at {a.open_rate:g}/s", f"{open_report['creates_ok']} placed, {open_report['achieved_per_second']}/s"),
                    ("    (a) decision / (b) commit p50 / p99", f"{lo['decision']['p50']} / {lo['decision']['p99']} ms; "
                                                            f"{lo['commit']['p50']} / {lo['commit']['p99']} ms"),
                    ("    queue / committed p50 / p99", f"{lo['queue']['p50']} / {lo['queue']['p99']} ms; "
                                                      f"{lo['committed']['p50']} / {lo['committed']['p99']} ms  "
                                                      f"{'met' if bars_p99['committed_open_loop'] else 'MISSED'}"),
                    ("    (c) end to end p50 / p99", f"{lo['end_to_end']['p50']} / {lo['end_to_end']['p99']} ms  "
                                                   f"{'met' if bars_p99['end_to_end_open_loop'] else 'MISSED'}"),
                    ("    CPU ms per placement", ", ".join(f"{r} {v:.2f}" for r, v in open_report["cpu_ms_per_placement"].items())),
                ]
            rows += [
                ("CPU ms per placement (closed loop)", ", ".join(f"{r} {v:.2f}" for r, v in cpu_ms.items())
                                                       + f"; server side {server_ms:.2f}, all {all_ms:.2f}"),
                ("  beyond the idle background", ", ".join(f"{r} {v:.2f}" for r, v in marginal_ms.items())
                                                 + f"; server side {marginal_server:.2f} (idle: "
                                                 + ", ".join(f"{r} {v:.0f} %" for r, v in report["idle_cpu_percent"].items())
                                                 + " of a core)"),
                (f"CPU-bound rate on {ncpu} idle cores", f"{report['cpu_bound_placements_per_second_server']}/s "
                                                         f"(client elsewhere), {report['cpu_bound_placements_per_second_all']}/s "
                                                         "(client here too)"),
                ("etcd requests per decision", f"{report['controller_etcd_requests_per_decision']} (controller), "
                                               f"{report['etcd_requests_per_decision_all_clients']} (all, incl. agents)"),
                ("controller's etcd requests p50 / p99", f"{report['controller_etcd_request_ms_p50']} / "
                                                         f"{report['controller_etcd_request_ms_p99']} ms"),
                ("etcd WAL fsync p50 / p99", f"{etcd_disk['wal_fsync']['p50_ms']} / {etcd_disk['wal_fsync']['p99_ms']} ms "
                                             "(a committed decision waits for one: its floor on this disk)"),
                ("txn conflicts (retried)", f"{int(conflicts)}"),
                ("placement cache rebuilds", f"{int(rebuilds)} during the creates"),
                ("deletes (group-committed)", f"{dels_ok} in {delete_s:.1f} s ({delete_report['per_second']}/s); controller p50 / p99 "
                                              f"{delete_report['controller_latency_ms']['p50']} / {delete_report['controller_latency_ms']['p99']} ms; "
                                              "CPU ms per delete " + ", ".join(f"{r} {v:.2f}" for r, v in delete_report["cpu_ms_per_delete"].items())),
                ("churn", f"{dels_ok} deleted + {recs_ok} re-created in {churn_s:.1f} s"),
                ("lost rack", f"{len(lost_hosts)} hosts, {len(on_lost)} VMs; re-placed after {report['lost_rack_replaced_seconds']} s, "
                              f"running after {report['lost_rack_running_seconds']} s (lease {a.lease_ttl} s + grace {a.grace:g} s)"),
                ("controller RSS", f"{ctl_rss:.0f} MiB (peak {ctl_hwm:.0f} MiB)"),
                ("invariants", "all hold" if not problems else f"{len(problems)} PROBLEMS"),
            ]
            w = max(len(k) for k, _ in rows)
            print(f"{'':-<{w + 60}}")
            for k, v in rows:
                print(f"{k:<{w}}  {v}")
            print(f"{'':-<{w + 60}}")
            for p in problems[:20]:
                print("problem:", p)
        if problems:
            return 1
        if a.require_bars and not (report["bar_decisions_met"] and bars_p99[judged]):
            return 1
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
