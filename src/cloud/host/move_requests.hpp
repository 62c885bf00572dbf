#pragma once
// The host agent's snapshot and migrate requests (POST /v1/vms/{id}/snapshot and /migrate),
// parsed and checked field by field with precise errors (SpecError), apart from any I/O so they
// are unit-tested. docs/api/host-agent.yaml describes them.
#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace nimbus::cloud::host {

struct SnapshotRequest {
  std::string to;  // absolute directory; empty: the agent picks <dir>/snapshots/<id>-<time>
};
// {} or {"to": "/abs/dir"}. Refused: a relative path, ".." components, control characters,
// unknown fields.
SnapshotRequest parse_snapshot_request(const nlohmann::json& body);

struct MigrateRequest {
  std::string to;                // tcp:HOST:PORT where `nimbus run --incoming` waits
  int64_t max_downtime_ms = 300;  // 1..60000, as `nimbus migrate --max-downtime`
};
// {"to": "tcp:HOST:PORT", "max_downtime_ms": N}.
MigrateRequest parse_migrate_request(const nlohmann::json& body);

} // namespace nimbus::cloud::host
