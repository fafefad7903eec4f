# shellcheck shell=bash
# Sourced by scripts/run-local.sh, test.sh, bench.sh and bench-profiles.sh; not meant to be run
# on its own, nor sourced into an interactive shell (that is scripts/env.sh's job).
#
# The local environment (env.sh), tool installation, and the local processes (dynalite, moto,
# `cargo lambda watch`) with their clean-up. Every process started through `start_background`
# is stopped by `stop_all`, which the scripts run on exit, failure and Ctrl-C.

# shellcheck source=scripts/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
LOCAL_DIR="$REPO_ROOT/.local"   # git-ignored: logs, demo credentials
LOG_DIR="$LOCAL_DIR/logs"
VENV_DIR="$REPO_ROOT/.venv"     # git-ignored: cargo-lambda, the SAM CLI and Schemathesis, from PyPI

CARGO_LAMBDA_VERSION=1.9.2
SAM_CLI_VERSION=1.170.0
SCHEMATHESIS_VERSION=4.32.5     # test.sh fuzzes openapi.yaml against the served function with it
# moto's server: Secrets Manager and SQS for the sync's tests (never used outside tests).
MOTO_VERSION=5.2.5
CHECKOV_VERSION=3.3.30          # test.sh scans template.yaml with it (in .venv/checkov: see ensure_tools)

# The demo's credentials, written by `agent-overview-admin seed-demo` (seed_demo below).
DEMO_CREDENTIALS_FILE="$LOCAL_DIR/demo-credentials"

# --- Output --------------------------------------------------------------------------------------
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
die() { printf '\033[31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# --- Tools ---------------------------------------------------------------------------------------

# On a fresh CI machine (CI set, root, Debian/Ubuntu) install missing system packages from the
# distribution; elsewhere only say what is missing.
_install_system_packages() {
  if [[ -n "${CI:-}" && "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    info "installing with apt-get: $*"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "missing: $* (install it with your system's package manager)"
  fi
}

# Checks the machine's prerequisites and installs the project's own tools, idempotently:
# .venv with cargo-lambda, the SAM CLI and Schemathesis (PyPI), infra/node_modules with dynalite (npm).
ensure_tools() {
  command -v cargo >/dev/null || die "the Rust toolchain (cargo) is required: https://rustup.rs"
  command -v curl >/dev/null || _install_system_packages curl
  command -v python3 >/dev/null || _install_system_packages python3 python3-venv
  command -v npm >/dev/null || _install_system_packages nodejs npm

  if [[ "$("$VENV_DIR/bin/cargo-lambda" lambda --version 2>/dev/null)" != "cargo-lambda $CARGO_LAMBDA_VERSION "* ]] ||
    [[ "$("$VENV_DIR/bin/sam" --version 2>/dev/null)" != "SAM CLI, version $SAM_CLI_VERSION" ]] ||
    [[ "$("$VENV_DIR/bin/st" --version 2>/dev/null)" != "st, version $SCHEMATHESIS_VERSION" ]]; then
    info "installing cargo-lambda $CARGO_LAMBDA_VERSION, aws-sam-cli $SAM_CLI_VERSION and schemathesis $SCHEMATHESIS_VERSION into .venv"
    if ! python3 -m venv "$VENV_DIR" >/dev/null 2>&1; then
      rm -rf "$VENV_DIR"
      _install_system_packages python3-venv
      python3 -m venv "$VENV_DIR"
    fi
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check \
      "cargo-lambda==$CARGO_LAMBDA_VERSION" "aws-sam-cli==$SAM_CLI_VERSION" \
      "schemathesis==$SCHEMATHESIS_VERSION"
  fi
  if [[ "$("$VENV_DIR/bin/python" -c 'import moto; print(moto.__version__)' 2>/dev/null)" != "$MOTO_VERSION" ]]; then
    info "installing moto[server] $MOTO_VERSION into .venv"
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
  fi
  # checkov pins its own boto3, botocore and packaging, which would replace the SAM CLI's: it
  # gets a venv of its own inside .venv.
  if [[ "$("$VENV_DIR/checkov/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]]; then
    info "installing checkov $CHECKOV_VERSION into .venv/checkov"
    python3 -m venv "$VENV_DIR/checkov"
    "$VENV_DIR/checkov/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
  fi
  # `cargo lambda` is cargo's subcommand lookup of `cargo-lambda` on PATH.
  export PATH="$VENV_DIR/bin:$PATH"

  # npm ci again when the lockfile is newer than the last install.
  if [[ ! -x "$REPO_ROOT/infra/node_modules/.bin/dynalite" ||
    "$REPO_ROOT/infra/package-lock.json" -nt "$REPO_ROOT/infra/node_modules/.package-lock.json" ]]; then
    info "installing dynalite (npm ci --prefix infra)"
    npm ci --prefix "$REPO_ROOT/infra" --no-audit --no-fund --loglevel=error
  fi
  mkdir -p "$LOG_DIR"
}

# --- Processes -----------------------------------------------------------------------------------
STARTED_PIDS=()

# start_background NAME COMMAND...: runs COMMAND in the background, output to .local/logs/NAME.log;
# sets BACKGROUND_PID.
start_background() {
  local name="$1"
  shift
  mkdir -p "$LOG_DIR"
  "$@" >"$LOG_DIR/$name.log" 2>&1 &
  BACKGROUND_PID=$!
  STARTED_PIDS+=("$BACKGROUND_PID")
}

# Every descendant of a process (cargo lambda watch runs the function in its own process group,
# so a process-group kill would miss it).
_descendants() {
  local child
  # shellcheck disable=SC2013 # the file holds space-separated pids
  for child in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
    echo "$child"
    _descendants "$child"
  done
}

# stop_pid PID: TERM, up to 10 s of grace, then KILL it and whatever it left behind.
stop_pid() {
  local pid="$1" descendants i
  kill -0 "$pid" 2>/dev/null || return 0
  descendants="$(_descendants "$pid" || true)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  # shellcheck disable=SC2086 # a list of pids
  kill -KILL "$pid" $descendants 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Stops every process this script started, newest first.
stop_all() {
  local i
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${STARTED_PIDS[i]}"
  done
  STARTED_PIDS=()
}

# An unused local TCP port.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_port_answers() { curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; }

# Starts an in-memory dynalite on 127.0.0.1:$DYNALITE_PORT and waits until it answers
# (at most 30 s). Sets DYNALITE_PID and AWS_ENDPOINT_URL_DYNAMODB. DYNALITE_HEAP_MB, when set,
# is node's --max-old-space-size for it (the scale benchmark holds a million items in memory).
start_dynalite() {
  local port="$DYNALITE_PORT" node_options="${NODE_OPTIONS:-}"
  if _port_answers "$port"; then
    die "something already listens on 127.0.0.1:$port; stop it or set DYNALITE_PORT"
  fi
  if [[ -n "${DYNALITE_HEAP_MB:-}" ]]; then
    node_options="$node_options --max-old-space-size=$DYNALITE_HEAP_MB"
  fi
  # No --path: in memory, gone when it stops. Tables are ACTIVE at once instead of after 500 ms.
  NODE_OPTIONS="$node_options" start_background dynalite "$REPO_ROOT/infra/node_modules/.bin/dynalite" \
    --host 127.0.0.1 --port "$port" --createTableMs 0 --deleteTableMs 0 --updateTableMs 0
  DYNALITE_PID=$BACKGROUND_PID
  _wait_for_port dynalite "$DYNALITE_PID" "$port"
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
  info "dynalite (in memory) on $AWS_ENDPOINT_URL_DYNAMODB"
}

# _wait_for_port NAME PID PORT: waits (at most 30 s) until PORT answers; dies with NAME's log
# if the process exits first.
_wait_for_port() {
  local name="$1" pid="$2" port="$3" i
  for ((i = 0; i < 300; i++)); do
    _port_answers "$port" && return 0
    kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -n 20 "$LOG_DIR/$name.log")"
    sleep 0.1
  done
  die "$name did not answer on port $port within 30 s"
}

# start_moto: moto's server (in memory) on a free local port for the tests' Secrets Manager and
# SQS, waited for (at most 30 s). Reached only through the SDK's standard endpoint variables.
start_moto() {
  local port
  port="$(free_port)"
  start_background moto "$VENV_DIR/bin/moto_server" -H 127.0.0.1 -p "$port"
  MOTO_PID=$BACKGROUND_PID
  _wait_for_port moto "$MOTO_PID" "$port"
  export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
  export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
  info "moto (Secrets Manager, SQS) on http://127.0.0.1:$port"
}

# Creates the tables from template.yaml in the local DynamoDB and seeds the demo tenant
# (`agent-overview-admin seed-demo`: generated conversations, a livechat-manager user and a
# session with a known token); keeps its DEMO_* lines in .local/demo-credentials and loads them
# (DEMO_TOKEN, DEMO_USER_ID, DEMO_FROM, DEMO_TO). Needs target/debug/agent-overview-admin.
seed_demo() {
  local admin="$REPO_ROOT/target/debug/agent-overview-admin"
  [[ -x "$admin" ]] || die "$admin is missing (cargo build --bin agent-overview-admin)"
  mkdir -p "$LOCAL_DIR"
  (
    umask 077
    "$admin" seed-demo --template "$REPO_ROOT/template.yaml" >"$DEMO_CREDENTIALS_FILE.new"
  ) || die "seed-demo failed"
  mv "$DEMO_CREDENTIALS_FILE.new" "$DEMO_CREDENTIALS_FILE"
  # shellcheck source=/dev/null
  source "$DEMO_CREDENTIALS_FILE"
  [[ -n "${DEMO_TOKEN:-}" && -n "${DEMO_FROM:-}" ]] || die "seed-demo printed no credentials"
  info "demo tenant '$DEMO_TENANT' seeded; credentials in ${DEMO_CREDENTIALS_FILE#"$REPO_ROOT"/}"
}

# start_function PORT [extra cargo lambda watch flags...]: serves the Lambda binary over HTTP on
# 127.0.0.1:PORT with the exported environment. Sets FUNCTION_PID.
start_function() {
  local port="$1"
  shift
  _port_answers "$port" && die "something already listens on 127.0.0.1:$port; set PORT"
  start_background function cargo lambda watch --bin agent-overview -A 127.0.0.1 -P "$port" "$@"
  FUNCTION_PID=$BACKGROUND_PID
}

# wait_for_function PORT SECONDS: until the function itself answers an HTTP request (any status
# but the emulator's own), or fail.
wait_for_function() {
  local port="$1" seconds="$2" deadline code
  deadline=$((SECONDS + seconds))
  while ((SECONDS < deadline)); do
    kill -0 "$FUNCTION_PID" 2>/dev/null || die "cargo lambda watch exited: $(tail -n 30 "$LOG_DIR/function.log")"
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
      "http://127.0.0.1:$port/api/v1/livechat/analytics/agent-overview" || true)"
    [[ "$code" =~ ^[1-5][0-9][0-9]$ && "$code" != 404 ]] && return 0
    sleep 1
  done
  die "the function did not answer on port $port within ${seconds} s (log: .local/logs/function.log)"
}
