#!/usr/bin/env bash
# The OpenAPI documents in docs/api/ parse and list exactly the routes the controller and the
# host agent serve (scripts/check-api-docs.py reads the route registrations in the source).
source "$(dirname "$0")/lib.sh"
python3 -c 'import yaml' 2>/dev/null || fail "python3 has no yaml module (scripts/install-deps.sh installs python3-yaml)"
out="$(python3 "$NIMBUS_SOURCE_DIR/scripts/check-api-docs.py" "$NIMBUS_SOURCE_DIR" 2>&1)" || fail "$out"
say "$out"
say PASS
