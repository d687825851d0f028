#!/usr/bin/env bash
# The real-stack tier: Keycloak and OPA as native processes, then `opa check`/`opa test`,
# the contract suite against them, and `agent-auth matrix --stack external`.
#
# Skips (one loud line, exit 0) only when an artifact could not be fetched at all, that is
# `stack/native.sh fetch` exits 4 and the artifact is not on disk. Once Keycloak and OPA
# are there, anything that keeps the tier from running or passing fails CI.
#
# Ports: the same knobs as stack/native.sh (KEYCLOAK_PORT, KEYCLOAK_MGMT_PORT, OPA_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
loud() { printf '\n!!!!!!!!!! %s !!!!!!!!!!\n\n' "$*"; }
fail() { loud "REAL STACK TIER FAILED: $*" >&2; exit 1; }
secs() { echo $(( $(date +%s) - $1 )); }

export KEYCLOAK_PORT="${KEYCLOAK_PORT:-8080}"
export KEYCLOAK_MGMT_PORT="${KEYCLOAK_MGMT_PORT:-9000}"
export OPA_PORT="${OPA_PORT:-8181}"

# fetch WHAT LABEL: returns only when the artifact is ready; exits 0 (skip) when it could
# not be fetched at all, 1 when it is on disk but fetching or checking it failed.
fetch() {
  local what=$1 label=$2 rc=0 t0
  t0=$(date +%s)
  bash stack/native.sh fetch "$what" || rc=$?
  if ((rc == 0)); then
    echo "   $label ready in $(secs "$t0")s"
  elif ((rc == 4)) && ! bash stack/native.sh fetched "$what"; then
    loud "REAL STACK TIER SKIPPED: $label could not be fetched (no network or no build tools?)"
    exit 0
  else
    fail "$label is on disk but 'stack/native.sh fetch $what' failed (exit $rc)"
  fi
}

fetch keycloak "Keycloak (Maven Central)"
fetch opa "OPA (go install)"

trap 'bash stack/native.sh down >/dev/null 2>&1 || true' EXIT
t0=$(date +%s)
bash stack/native.sh up || fail "Keycloak and OPA were fetched but did not start"
echo "   real stack started in $(secs "$t0")s"
bash stack/native.sh status || fail "Keycloak and OPA were started but are not healthy"

OPA_BIN="$(bash stack/native.sh opa-bin)"
opa_version="$("$OPA_BIN" version)"
echo "== opa check / opa test with ${opa_version%%$'\n'*}"
"$OPA_BIN" check --strict stack/opa
"$OPA_BIN" test stack/opa

export AGENT_AUTH_STACK=external
export KEYCLOAK_URL="http://127.0.0.1:$KEYCLOAK_PORT" OPA_URL="http://127.0.0.1:$OPA_PORT"
echo "== contract and interop suites against the real Keycloak ($KEYCLOAK_URL) and OPA ($OPA_URL)"
t0=$(date +%s)
# interop: MCP clients nobody here wrote (the Inspector CLI, the mcp SDK registering itself)
uv run pytest tests/contract tests/interop
echo "   contract and interop suites took $(secs "$t0")s"

echo "== agent-auth matrix --stack external (must equal the expected table)"
t0=$(date +%s)
uv run agent-auth matrix --stack external
echo "   external matrix took $(secs "$t0")s"
echo "== real stack tier passed"
