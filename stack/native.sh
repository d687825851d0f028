#!/usr/bin/env bash
# Run the real Keycloak and OPA as native processes on 127.0.0.1 (no Docker).
#
#   stack/native.sh up [keycloak|opa]     start (both by default); idempotent
#   stack/native.sh down [keycloak|opa]   stop (both by default)
#   stack/native.sh status                versions, URLs, health (exit 0 only if both are healthy)
#   stack/native.sh fetch [keycloak|opa]  only download / build (exit 4 when the artifact
#                                         could not be fetched; 1 when it is there but broken)
#   stack/native.sh fetched [keycloak|opa] exit 0 only if the artifacts are already on disk
#   stack/native.sh opa-bin               print the path of the built OPA binary
#
# Versions come from stack/versions.env. Downloads, the unpacked Keycloak, the OPA binary,
# pid files and logs live under ${AGENT_AUTH_CACHE:-$HOME/.cache/agent-auth}.
#
# Environment:
#   KEYCLOAK_PORT (8080)  KEYCLOAK_MGMT_PORT (9000)  OPA_PORT (8181)
#   KEYCLOAK_START_TIMEOUT (300 s)  OPA_START_TIMEOUT (30 s)
#   KEYCLOAK_FEATURES     extra Keycloak features, comma separated (default: none needed;
#                         dpop and token-exchange-standard:v2 are on by default in 26.x)
#   KEYCLOAK_ADMIN_USER / KEYCLOAK_ADMIN_PASSWORD  master-realm bootstrap admin (admin/admin)
#   JAVA_HOME             JDK to use (default: Temurin 25 if present, else the system java)
#   MAVEN_REPO_URL        fetch the Keycloak zip with curl from this Maven repository
#                         instead of `mvn dependency:copy`
#
# Exit codes: 0 ok, 1 failure (start/stop/health), 2 usage, 3 status: something not healthy,
# 4 fetch: an artifact could not be downloaded or built.
#
# Under pipefail, never pipe a command into a reader that may stop early (`grep -q`,
# `head`, `awk ... exit`): the writer dies of SIGPIPE and the pipeline fails at random.
# Capture the output in a variable first, then test it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=stack/versions.env
source "$ROOT/stack/versions.env"
: "${KEYCLOAK_VERSION:?missing in stack/versions.env}" "${OPA_VERSION:?missing in stack/versions.env}"

CACHE="${AGENT_AUTH_CACHE:-$HOME/.cache/agent-auth}"
RUN="$CACHE/run"
KEYCLOAK_PORT="${KEYCLOAK_PORT:-8080}"
KEYCLOAK_MGMT_PORT="${KEYCLOAK_MGMT_PORT:-9000}"
OPA_PORT="${OPA_PORT:-8181}"
KEYCLOAK_START_TIMEOUT="${KEYCLOAK_START_TIMEOUT:-300}"
OPA_START_TIMEOUT="${OPA_START_TIMEOUT:-30}"
KEYCLOAK_FEATURES="${KEYCLOAK_FEATURES:-}"
REALM_FILE="$ROOT/stack/keycloak/realm-agentauth.json"
OPA_POLICY_DIR="$ROOT/stack/opa"

KC_HOME="$CACHE/keycloak-$KEYCLOAK_VERSION"
KC_ZIP="$CACHE/downloads/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
KC_URL="http://127.0.0.1:$KEYCLOAK_PORT"
KC_HEALTH="http://127.0.0.1:$KEYCLOAK_MGMT_PORT/health/ready"
KC_PID="$RUN/keycloak.pid"
KC_LOG="$RUN/keycloak.log"
OPA_BIN="$CACHE/bin/opa-$OPA_VERSION"
OPA_URL="http://127.0.0.1:$OPA_PORT"
OPA_PID="$RUN/opa.pid"
OPA_LOG="$RUN/opa.log"

say() { printf '%s\n' "native.sh: $*"; }
die() { printf '%s\n' "native.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not on PATH"; }
healthy() { curl -fsS -o /dev/null --max-time 3 "$1" 2>/dev/null; }

# pid of a running process we started, or nothing
running_pid() {
  local f="$1" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f" 2>/dev/null || true)"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    printf '%s' "$pid"
    return 0
  fi
  rm -f "$f"
  return 1
}

port_busy() { # true when something already answers on 127.0.0.1:$1
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

log_tail() {
  local f="$1"
  [[ -f "$f" ]] || return 0
  printf '%s\n' "---- last 40 lines of $f ----" >&2
  tail -n 40 "$f" >&2
  printf '%s\n' "----" >&2
}

# wait_healthy NAME PID URL PIDFILE LOG TIMEOUT POLL WHAT: until URL answers; die with the log
# tail if the process exits or the timeout passes.
wait_healthy() {
  local name=$1 pid=$2 url=$3 pidfile=$4 log=$5 timeout=$6 poll=$7 what=$8 deadline
  deadline=$((SECONDS + timeout))
  until healthy "$url"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      log_tail "$log"
      die "$name exited during start-up (log: $log)"
    fi
    if ((SECONDS >= deadline)); then
      log_tail "$log"
      die "$name not ready after ${timeout}s (pid $pid still running; stop it with '$0 down $what')"
    fi
    sleep "$poll"
  done
}

pick_java() {
  if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    :
  elif [[ -x /usr/lib/jvm/temurin-25-jdk-amd64/bin/java ]]; then
    JAVA_HOME=/usr/lib/jvm/temurin-25-jdk-amd64
  elif command -v java >/dev/null 2>&1; then
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")"
  else
    die "no Java found: install a JDK 17+ or set JAVA_HOME"
  fi
  export JAVA_HOME
  local out v
  out="$("$JAVA_HOME/bin/java" -version 2>&1)" || die "$JAVA_HOME/bin/java -version failed: $out"
  v="$(awk -F'"' '/version/ { print $2; exit }' <<<"$out")"
  [[ "${v%%.*}" -ge 17 ]] 2>/dev/null || die "Keycloak $KEYCLOAK_VERSION needs Java 17+, $JAVA_HOME has '$v'"
}

# ---------------------------------------------------------------- Keycloak

fetch_keycloak() {
  [[ -x "$KC_HOME/bin/kc.sh" ]] && return 0
  mkdir -p "$CACHE/downloads"
  local t0 coord="org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip"
  t0="$(now)"
  if [[ ! -s "$KC_ZIP" ]]; then
    say "downloading Keycloak $KEYCLOAK_VERSION ($coord, ~170 MB)"
    if [[ -n "${MAVEN_REPO_URL:-}" ]]; then
      need curl
      curl -fSL --retry 3 -o "$KC_ZIP.part" \
        "${MAVEN_REPO_URL%/}/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" \
        || die "download from $MAVEN_REPO_URL failed"
      mv "$KC_ZIP.part" "$KC_ZIP"
    else
      command -v mvn >/dev/null 2>&1 \
        || die "need Maven (mvn) to fetch $coord, or set MAVEN_REPO_URL to fetch it with curl"
      mkdir -p "$RUN"
      if ! mvn -q -B dependency:copy -Dartifact="$coord" -DoutputDirectory="$CACHE/downloads" \
        -Dmdep.overWriteReleases=true >"$RUN/mvn.log" 2>&1; then
        log_tail "$RUN/mvn.log"
        die "mvn dependency:copy $coord failed (is Keycloak $KEYCLOAK_VERSION on Maven Central?)"
      fi
    fi
    say "downloaded in $(elapsed "$t0") s"
  fi
  local tmp="$CACHE/.unpack-$$"
  rm -rf "$tmp" && mkdir -p "$tmp"
  # unzip is not on every machine; Python's zipfile is (it drops the exec bits: restored below)
  if command -v unzip >/dev/null 2>&1; then
    unzip -q "$KC_ZIP" -d "$tmp" || { rm -rf "$tmp"; die "cannot unpack $KC_ZIP (delete it to re-download)"; }
  else
    python3 -m zipfile -e "$KC_ZIP" "$tmp" || { rm -rf "$tmp"; die "cannot unpack $KC_ZIP (delete it to re-download)"; }
    chmod +x "$tmp/keycloak-$KEYCLOAK_VERSION"/bin/*.sh
  fi
  rm -rf "$KC_HOME"
  mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$KC_HOME"
  rm -rf "$tmp"
  say "Keycloak $KEYCLOAK_VERSION ready in $KC_HOME ($(elapsed "$t0") s incl. unpack)"
}

up_keycloak() {
  local pid
  if pid="$(running_pid "$KC_PID")"; then
    if healthy "$KC_HEALTH"; then
      say "Keycloak already running (pid $pid) at $KC_URL"
      return 0
    fi
    say "Keycloak process $pid exists but is not healthy yet; waiting"
  else
    port_busy "$KEYCLOAK_PORT" && die "port $KEYCLOAK_PORT is already in use (another Keycloak? docker compose?)"
    port_busy "$KEYCLOAK_MGMT_PORT" && die "management port $KEYCLOAK_MGMT_PORT is already in use"
    [[ -f "$REALM_FILE" ]] || die "realm file $REALM_FILE not found"
    need curl
    pick_java
    fetch_keycloak
    mkdir -p "$RUN" "$KC_HOME/data/import"
    rm -f "$KC_HOME"/data/import/*.json
    cp "$REALM_FILE" "$KC_HOME/data/import/realm-agentauth.json"
    local args=(start-dev --db=dev-mem --import-realm
      --http-host=127.0.0.1 --http-port="$KEYCLOAK_PORT"
      --hostname="$KC_URL"
      --http-management-host=127.0.0.1 --http-management-port="$KEYCLOAK_MGMT_PORT"
      --health-enabled=true)
    [[ -n "$KEYCLOAK_FEATURES" ]] && args+=(--features="$KEYCLOAK_FEATURES")
    say "starting Keycloak $KEYCLOAK_VERSION (Java: $JAVA_HOME) -> log $KC_LOG"
    T_KC_START="$(now)"
    (
      cd "$KC_HOME"
      export KC_BOOTSTRAP_ADMIN_USERNAME="${KEYCLOAK_ADMIN_USER:-admin}"
      export KC_BOOTSTRAP_ADMIN_PASSWORD="${KEYCLOAK_ADMIN_PASSWORD:-admin}"
      exec setsid bin/kc.sh "${args[@]}" </dev/null >"$KC_LOG" 2>&1
    ) &
    pid=$!
    echo "$pid" >"$KC_PID"
  fi
  local t0
  t0="${T_KC_START:-$(now)}"
  wait_healthy Keycloak "$pid" "$KC_HEALTH" "$KC_PID" "$KC_LOG" "$KEYCLOAK_START_TIMEOUT" 1 keycloak
  # ready means the HTTP stack is up; the realm import has finished before that
  if ! curl -fsS -o /dev/null --max-time 5 "$KC_URL/realms/agentauth/.well-known/openid-configuration"; then
    log_tail "$KC_LOG"
    die "Keycloak is up but realm 'agentauth' is missing (import failed? see $KC_LOG)"
  fi
  say "Keycloak $KEYCLOAK_VERSION ready at $KC_URL (realm agentauth) in $(elapsed "$t0") s (pid $pid)"
}

# ---------------------------------------------------------------- OPA

# true when $OPA_BIN runs and reports exactly the pinned version (a whole line, as grep -x)
opa_version_ok() {
  local out
  [[ -x "$OPA_BIN" ]] || return 1
  out="$("$OPA_BIN" version 2>/dev/null)" || return 1
  [[ $'\n'"$out"$'\n' == *$'\n'"Version: ${OPA_VERSION#v}"$'\n'* ]]
}

opa_build() {
  opa_version_ok && return 0
  need go
  local t0 gobin="$CACHE/gobin-$$"
  t0="$(now)"
  say "building OPA $OPA_VERSION with go install (a few minutes on 2 cores)"
  mkdir -p "$CACHE/bin" "$gobin"
  GOBIN="$gobin" GOFLAGS="${GOFLAGS:-} -trimpath" \
    go install "github.com/open-policy-agent/opa@$OPA_VERSION" \
    || { rm -rf "$gobin"; die "go install github.com/open-policy-agent/opa@$OPA_VERSION failed"; }
  mv "$gobin/opa" "$OPA_BIN"
  rm -rf "$gobin"
  opa_version_ok || die "built $OPA_BIN does not report version $OPA_VERSION"
  say "OPA $OPA_VERSION built in $(elapsed "$t0") s -> $OPA_BIN"
}

up_opa() {
  local pid
  if pid="$(running_pid "$OPA_PID")"; then
    if healthy "$OPA_URL/health"; then
      say "OPA already running (pid $pid) at $OPA_URL"
      return 0
    fi
  else
    port_busy "$OPA_PORT" && die "port $OPA_PORT is already in use (another OPA? docker compose?)"
    need curl
    opa_build
    [[ -d "$OPA_POLICY_DIR" ]] || die "policy directory $OPA_POLICY_DIR not found"
    mkdir -p "$RUN"
    say "starting OPA $OPA_VERSION on $OPA_URL with $OPA_POLICY_DIR -> log $OPA_LOG"
    T_OPA_START="$(now)"
    (exec setsid "$OPA_BIN" run --server --addr="127.0.0.1:$OPA_PORT" --log-level=info \
      --set=decision_logs.console=true "$OPA_POLICY_DIR" </dev/null >"$OPA_LOG" 2>&1) &
    pid=$!
    echo "$pid" >"$OPA_PID"
  fi
  local t0
  t0="${T_OPA_START:-$(now)}"
  wait_healthy OPA "$pid" "$OPA_URL/health" "$OPA_PID" "$OPA_LOG" "$OPA_START_TIMEOUT" 0.3 opa
  say "OPA $OPA_VERSION ready at $OPA_URL in $(elapsed "$t0") s (pid $pid)"
}

# ---------------------------------------------------------------- down / status

stop_one() { # name pidfile
  local name="$1" f="$2" pid i
  if ! pid="$(running_pid "$f")"; then
    say "$name not running"
    return 0
  fi
  # setsid made the process a group leader: signal the whole group (kc.sh forks java)
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop in 30 s; killing"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
  say "$name stopped (pid $pid)"
}

status() {
  local rc=0 pid
  printf '%-9s %-8s %-7s %-26s %s\n' component version state url detail
  if pid="$(running_pid "$KC_PID")"; then
    if healthy "$KC_HEALTH"; then
      printf '%-9s %-8s %-7s %-26s %s\n' keycloak "$KEYCLOAK_VERSION" up "$KC_URL" "pid $pid, health $KC_HEALTH, realm $KC_URL/realms/agentauth"
    else
      printf '%-9s %-8s %-7s %-26s %s\n' keycloak "$KEYCLOAK_VERSION" start "$KC_URL" "pid $pid, not ready yet (log $KC_LOG)"
      rc=3
    fi
  else
    local note="not started"
    healthy "$KC_HEALTH" && note="something else answers on $KC_HEALTH (docker compose?)"
    printf '%-9s %-8s %-7s %-26s %s\n' keycloak "$KEYCLOAK_VERSION" down "$KC_URL" "$note"
    rc=3
  fi
  if pid="$(running_pid "$OPA_PID")"; then
    if healthy "$OPA_URL/health"; then
      printf '%-9s %-8s %-7s %-26s %s\n' opa "$OPA_VERSION" up "$OPA_URL" "pid $pid, policies $OPA_POLICY_DIR"
    else
      printf '%-9s %-8s %-7s %-26s %s\n' opa "$OPA_VERSION" start "$OPA_URL" "pid $pid, not healthy (log $OPA_LOG)"
      rc=3
    fi
  else
    local note="not started"
    healthy "$OPA_URL/health" && note="something else answers on $OPA_URL (docker compose?)"
    printf '%-9s %-8s %-7s %-26s %s\n' opa "$OPA_VERSION" down "$OPA_URL" "$note"
    rc=3
  fi
  return "$rc"
}

fetched() { # keycloak|opa: the downloaded / built artifact is on disk
  case "$1" in
    keycloak) [[ -x "$KC_HOME/bin/kc.sh" ]] ;;
    opa) [[ -x "$OPA_BIN" ]] ;;
  esac
}

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd="${1:-}"
what="${2:-all}"
case "$what" in all | keycloak | opa) ;; *) usage ;; esac
case "$cmd" in
  up)
    T0="$(now)"
    [[ "$what" == opa ]] || up_keycloak
    [[ "$what" == keycloak ]] || up_opa
    case "$what" in
      all) say "up in $(elapsed "$T0") s: Keycloak $KEYCLOAK_VERSION at $KC_URL, OPA $OPA_VERSION at $OPA_URL" ;;
      keycloak) say "up in $(elapsed "$T0") s: Keycloak $KEYCLOAK_VERSION at $KC_URL" ;;
      opa) say "up in $(elapsed "$T0") s: OPA $OPA_VERSION at $OPA_URL" ;;
    esac
    ;;
  down)
    [[ "$what" == opa ]] || stop_one Keycloak "$KC_PID"
    [[ "$what" == keycloak ]] || stop_one OPA "$OPA_PID"
    ;;
  status) status ;;
  fetch)
    # exit 4 says "could not fetch" (the artifact is not on disk): CI skips that tier loudly.
    # An artifact that is on disk but fails its check exits 1: CI fails, it does not skip.
    [[ "$what" == opa ]] || (fetch_keycloak) || { fetched keycloak && exit 1; exit 4; }
    [[ "$what" == keycloak ]] || (opa_build) || { fetched opa && exit 1; exit 4; }
    ;;
  fetched)
    [[ "$what" == opa ]] || fetched keycloak || exit 1
    [[ "$what" == keycloak ]] || fetched opa || exit 1
    ;;
  opa-bin) printf '%s\n' "$OPA_BIN" ;;
  *) usage ;;
esac
