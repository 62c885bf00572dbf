#!/usr/bin/env bash
# A small run of scripts/measure-cloud-scale.py (real etcd, one controller, 5 `nimbus host
# --simulate-hosts 10` agents = 50 hosts): 500 creates from 2 tenants with 8 concurrent clients,
# one tenant's quota too small for its share, churn, then kill -9 of one rack's agent. Checks
# invariants, not speed: no host over capacity, no quota overrun, allocs = VM records, every
# create placed or refused with a code and a message (403 quota_exceeded here), and every VM of
# the lost rack re-placed on another host with a new generation. The full-size measurement
# (1,000 hosts, 20,000 VMs) is the same script by hand; see docs/cloud.md "Scale".
source "$(dirname "$0")/lib.sh"
[ "$TEST_MACHINE" = qemu ] && skip "a control-plane test: no QEMU equivalent"
require_machine
command -v etcd >/dev/null || skip "etcd not installed (Debian etcd-server)"
command -v python3 >/dev/null || skip "python3 not installed"

report="$TEST_WORK/report.json"
t0=$(date +%s)
python3 "$NIMBUS_SOURCE_DIR/scripts/measure-cloud-scale.py" "$NIMBUS_BIN" --hosts 50 --racks 5 --vms 500 \
  --tenants 2 --clients 8 --churn 100 --open-rate 100 --open-count 40 --quota-vcpus 300 --lease-ttl 3 --grace 1 --recover-timeout 60 \
  --json --quiet > "$report" 2> "$TEST_WORK/stderr"
rc=$?
elapsed=$(( $(date +%s) - t0 ))
[ -s "$report" ] || { cat "$TEST_WORK/stderr"; fail "no report (exit $rc)"; }
python3 - "$report" <<'PY' || fail "report checks failed (script exit $rc)"
import json, sys
r = json.load(open(sys.argv[1]))
def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what)
    return ok
good = True
good &= check(not r["invariant_problems"], f"invariants hold ({len(r['invariant_problems'])} problems: {r['invariant_problems'][:3]})")
good &= check(r["creates_ok"] + r["creates_refused"] == 500, f"500 creates answered: {r['creates_ok']} placed, {r['creates_refused']} refused {r['refusals']}")
good &= check(r["creates_ok"] > 0 and r["creates_refused"] > 0, "some placed, some refused by the small quota")
good &= check(set(r["refusals"]) <= {"403 quota_exceeded"}, f"every refusal is the quota's 403: {r['refusals']}")
good &= check(r["lost_rack_vms"] > 0, f"the lost rack held {r['lost_rack_vms']} VMs")
good &= check(r["lost_rack_replaced_seconds"] is not None, f"all re-placed after {r['lost_rack_replaced_seconds']} s (lease 3 s + grace 1 s)")
good &= check(r["churn_deleted"] == 100, f"churn: {r['churn_deleted']} deleted, {r['churn_recreated']} re-created")
good &= check(r["deletes"]["deleted"] == 100 and r["deletes"]["controller_latency_ms"]["p99"] is not None,
              f"deletes group-committed: {r['deletes']}")
o = r["open_loop"]
good &= check(o["creates_ok"] + o["creates_refused"] == 40, f"open loop: 40 creates answered ({o['creates_ok']} placed)")
lat = r["latency_ms"]
good &= check(all(lat[k]["p99"] is not None for k in ("decision", "queue", "commit", "committed", "end_to_end")),
              f"every latency measured: {lat}")
good &= check(all(v >= 0 for v in r["cpu_ms_per_placement"].values()) and r["cpu_ms_per_placement"]["controller"] > 0,
              f"CPU per placement: {r['cpu_ms_per_placement']}")
print(f"figures (not checked): {r['decisions_per_second']} decisions/s, decision p99 {lat['decision']['p99']} ms, "
      f"committed p99 {lat['committed']['p99']} ms, controller RSS {r['controller_rss_mib']} MiB")
sys.exit(0 if good else 1)
PY
[ "$rc" -eq 0 ] || { tail -5 "$TEST_WORK/stderr"; fail "measure-cloud-scale.py exited $rc"; }
say "ran in ${elapsed} s"
say "PASS"
