# shellcheck shell=bash
# Sourced by scripts/run-local.sh and scripts/test.sh; not meant to be run on its own.
#
# Local defaults (the same variables the deployed function reads), tool installation, and the
# local processes (dynalite, `cargo lambda watch`) with their clean-up. Every process started
# through `start_background` is stopped by `stop_all`, which the scripts run on exit, failure
# and Ctrl-C.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL_DIR="$REPO_ROOT/.local"   # git-ignored: logs, demo credentials
LOG_DIR="$LOCAL_DIR/logs"
VENV_DIR="$REPO_ROOT/.venv"     # git-ignored: cargo-lambda, the SAM CLI and Schemathesis, from PyPI

CARGO_LAMBDA_VERSION=1.9.2
SAM_CLI_VERSION=1.170.0
SCHEMATHESIS_VERSION=4.32.5     # test.sh fuzzes openapi.yaml against the served function with it
# moto's server: Secrets Manager and SQS for the sync's tests (never used outside tests).
MOTO_VERSION=5.2.5
CHECKOV_VERSION=3.3.30          # test.sh scans template.yaml with it (in .venv/checkov: see ensure_tools)

# --- AWS SDK, pointed at dynalite ---------------------------------------------------------------
# Credentials are fixed dummies on purpose: local runs never need, and never send, real ones.
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID=local
export AWS_SECRET_ACCESS_KEY=local
unset AWS_SESSION_TOKEN AWS_PROFILE
export AWS_EC2_METADATA_DISABLED=true
export DYNALITE_PORT="${DYNALITE_PORT:-8000}"
# The SDK's standard variable: the code never knows it talks to a local DynamoDB.
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$DYNALITE_PORT"

# --- The function's configuration (template.yaml sets the same variables in AWS) ---------------
export SESSIONS_TABLE="${SESSIONS_TABLE:-agent-overview-sessions}"
export DIRECTORY_TABLE="${DIRECTORY_TABLE:-agent-overview-directory}"
export CONVERSATIONS_TABLE="${CONVERSATIONS_TABLE:-agent-overview-conversations}"
export ROLLUPS_TABLE="${ROLLUPS_TABLE:-agent-overview-rollups}"
export BY_MONTH_INDEX="${BY_MONTH_INDEX:-byMonth}"
export BY_DEPARTMENT_MONTH_INDEX="${BY_DEPARTMENT_MONTH_INDEX:-byDepartmentMonth}"
export RUST_LOG="${RUST_LOG:-info}"

export SAM_CLI_TELEMETRY=0

# --- Demo tenant (seeded by seed_demo) -----------------------------------------------------------
DEMO_TENANT=demo
DEMO_USER_ID=demo-manager
DEMO_TOKEN=demo-token-0000000000000000000000000000000
DEMO_DAYS=90
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
# (at most 30 s). Sets DYNALITE_PID and AWS_ENDPOINT_URL_DYNAMODB.
start_dynalite() {
  local port="$DYNALITE_PORT"
  if _port_answers "$port"; then
    die "something already listens on 127.0.0.1:$port; stop it or set DYNALITE_PORT"
  fi
  # No --path: in memory, gone when it stops. Tables are ACTIVE at once instead of after 500 ms.
  start_background dynalite "$REPO_ROOT/infra/node_modules/.bin/dynalite" \
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

# A range covering the demo data (the last $DEMO_DAYS days up to now), UTC dates (YYYY-MM-DD).
demo_from() { python3 -c "import datetime as d; print((d.datetime.now(d.timezone.utc).date() - d.timedelta(days=$DEMO_DAYS)).isoformat())"; }
demo_to() { python3 -c "import datetime as d; print(d.datetime.now(d.timezone.utc).date().isoformat())"; }

# Creates the tables from template.yaml in the local DynamoDB and seeds the demo tenant: generated
# conversations, a livechat-manager user and a session with a known token, written to
# .local/demo-credentials. Needs target/debug/agent-overview-admin.
seed_demo() {
  local admin="$REPO_ROOT/target/debug/agent-overview-admin" token
  [[ -x "$admin" ]] || die "$admin is missing (cargo build --bin agent-overview-admin)"
  "$admin" create-tables --template "$REPO_ROOT/template.yaml"
  "$admin" generate-demo --tenant "$DEMO_TENANT" --conversations 2000 --days "$DEMO_DAYS" \
    --agents 8 --departments 3 --seed 42
  "$admin" add-user --tenant "$DEMO_TENANT" --user-id "$DEMO_USER_ID" --username manager \
    --role livechat-manager
  token="$("$admin" mint-session --tenant "$DEMO_TENANT" --user-id "$DEMO_USER_ID" --token "$DEMO_TOKEN" | tail -n 1)"
  [[ "$token" == "$DEMO_TOKEN" ]] || die "mint-session printed '$token', expected the demo token"
  mkdir -p "$LOCAL_DIR"
  (
    umask 077
    printf 'DEMO_TOKEN=%s\nDEMO_USER_ID=%s\n' "$DEMO_TOKEN" "$DEMO_USER_ID" >"$DEMO_CREDENTIALS_FILE"
  )
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
